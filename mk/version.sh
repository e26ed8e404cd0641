#!/bin/sh
# The version's single source is the top-level VERSION file (MAJOR.MINOR.PATCH).
# The build reads it for the library's file name and SONAME (mk/capi.mk),
# the pkg-config and CMake package files (cmake/install.sh) and the Python
# wheel's metadata (bindings/python/_build/backend.py). Three copies exist
# because their languages cannot read a file at compile time: the macros in
# include/netsys.h, core.Version (core/version.go) and the Python package's
# __version__ (bindings/python/netsys/_version.py).
#
#   version.sh check SOURCE_DIR [STAGE_DIR]   fail if any copy or generated file disagrees
#   version.sh set SOURCE_DIR X.Y.Z           write VERSION and the three copies (make set-version V=X.Y.Z)
set -eu
cmd=${1:?usage: version.sh check|set SOURCE_DIR ...}
src=${2:?usage: version.sh check|set SOURCE_DIR ...}

header=$src/include/netsys.h
gofile=$src/core/version.go
pyfile=$src/bindings/python/netsys/_version.py

macro() { sed -n "s/^#define NETSYS_VERSION_$1 \\([0-9]*\\)\$/\\1/p" "$header"; }

case $cmd in
set)
    new=${3:?usage: version.sh set SOURCE_DIR X.Y.Z}
    echo "$new" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+$' || { echo "version.sh: $new is not MAJOR.MINOR.PATCH" >&2; exit 2; }
    major=${new%%.*} rest=${new#*.}
    minor=${rest%%.*} patch=${rest#*.}
    echo "$new" >"$src/VERSION"
    sed -i -e "s/^#define NETSYS_VERSION_MAJOR [0-9]*\$/#define NETSYS_VERSION_MAJOR $major/" \
        -e "s/^#define NETSYS_VERSION_MINOR [0-9]*\$/#define NETSYS_VERSION_MINOR $minor/" \
        -e "s/^#define NETSYS_VERSION_PATCH [0-9]*\$/#define NETSYS_VERSION_PATCH $patch/" "$header"
    sed -i "s/^const Version = \".*\"\$/const Version = \"$new\"/" "$gofile"
    sed -i "s/^__version__ = \".*\"\$/__version__ = \"$new\"/" "$pyfile"
    echo "version set to $new in VERSION, include/netsys.h, core/version.go, bindings/python/netsys/_version.py"
    echo "(add a CHANGELOG.md section for it)"
    exit 0
    ;;
check) ;;
*) echo "version.sh: unknown command $cmd" >&2; exit 2 ;;
esac

stage=${3:-}
want=$(cat "$src/VERSION")
failed=0 checked=0
# expect WHAT VALUE [HINT]: one copy or generated file must say exactly $want.
expect() {
    checked=$((checked + 1))
    if [ "$2" = "$want" ]; then
        echo "  ok    $1: $2"
    else
        echo "  FAIL  $1: '${2}' but VERSION says $want (${3:-make set-version V=$want updates the copies})"
        failed=$((failed + 1))
    fi
}

echo "$want" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+$' || { echo "  FAIL  VERSION is '$want', not MAJOR.MINOR.PATCH"; exit 1; }
expect "include/netsys.h NETSYS_VERSION_MAJOR.MINOR.PATCH" "$(macro MAJOR).$(macro MINOR).$(macro PATCH)"
expect "core/version.go core.Version" "$(sed -n 's/^const Version = "\(.*\)"$/\1/p' "$gofile")"
expect "bindings/python/netsys/_version.py __version__" "$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$pyfile")"
expect "CHANGELOG.md has a section" "$(grep -o "^## \[$want\]" "$src/CHANGELOG.md" | sed 's/^## \[\(.*\)\]$/\1/')" \
    "add a '## [$want] - Unreleased' section"
if [ -n "$stage" ]; then
    rebuild="rebuild: make stage"
    expect "pkg-config network-system --modversion" \
        "$(PKG_CONFIG_PATH=$stage/lib/pkgconfig pkg-config --modversion network-system)" "$rebuild"
    expect "CMake NetworkSystemConfigVersion.cmake PACKAGE_VERSION" \
        "$(sed -n 's/^set(PACKAGE_VERSION "\(.*\)")$/\1/p' "$stage/lib/cmake/NetworkSystem/NetworkSystemConfigVersion.cmake")" "$rebuild"
    expect "CMake NetworkSystemConfig.cmake NetworkSystem_VERSION" \
        "$(sed -n 's/^set(NetworkSystem_VERSION "\(.*\)")$/\1/p' "$stage/lib/cmake/NetworkSystem/NetworkSystemConfig.cmake")" "$rebuild"
    lib=$(ls "$stage/lib/libnetsys.so.$want" 2>/dev/null || true)
    expect "installed library file name" "${lib##*/libnetsys.so.}" "$rebuild"
    if [ -n "$lib" ] && command -v readelf >/dev/null; then
        soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[libnetsys\.so\.\(.*\)\]/\1/p')
        checked=$((checked + 1))
        if [ "$soname" = "${want%%.*}" ]; then echo "  ok    SONAME: libnetsys.so.$soname"
        else echo "  FAIL  SONAME libnetsys.so.$soname, major of $want expected"; failed=$((failed + 1)); fi
    fi
fi
echo "version: $((checked - failed)) of $checked places agree with VERSION ($want)"
[ "$failed" -eq 0 ]
