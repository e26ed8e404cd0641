#!/bin/sh
# Installs libnetsys into a prefix: the library with its SONAME symlinks,
# every header under include/ (C and C++), the CMake package and the
# pkg-config file. Used by `make install` and `make stage`.
#
# Files whose content has not changed are left alone (install -C, cmp), so
# re-staging keeps their timestamps and does not make the projects built
# against the stage rebuild, and a build running against the stage never
# sees a file disappear.
#
# usage: install.sh SOURCE_DIR LIB_BUILD_DIR PREFIX VERSION SOMAJOR
set -eu
src=$1 libdir=$2 prefix=$3 version=$4 somajor=$5

install -d "$prefix/lib" "$prefix/include" "$prefix/lib/cmake/NetworkSystem" "$prefix/lib/pkgconfig"
install -C -m 755 "$libdir/libnetsys.so.$version" "$prefix/lib/"
ln -sfn "libnetsys.so.$version" "$prefix/lib/libnetsys.so.$somajor"
ln -sfn "libnetsys.so.$somajor" "$prefix/lib/libnetsys.so"
# Every public header, keeping the tree (netsys.h, network_system/..., netsys/...).
(cd "$src/include" && find . -type f \( -name '*.h' -o -name '*.hpp' -o -name '*.hh' -o -name '*.inl' \) -print) |
while read -r header; do
    install -C -D -m 644 "$src/include/$header" "$prefix/include/$header"
done

# configure IN OUT: substitutes the version; replaces OUT only if it changes.
# The package files are relocatable: they find the prefix from their own
# location, so the version is the only thing substituted.
configure() {
    sed "s/@NETSYS_VERSION@/$version/g" "$1" >"$2.tmp"
    if cmp -s "$2.tmp" "$2"; then rm -f "$2.tmp"; else mv "$2.tmp" "$2"; fi
}
configure "$src/cmake/NetworkSystemConfig.cmake.in" "$prefix/lib/cmake/NetworkSystem/NetworkSystemConfig.cmake"
configure "$src/cmake/NetworkSystemConfigVersion.cmake.in" "$prefix/lib/cmake/NetworkSystem/NetworkSystemConfigVersion.cmake"
configure "$src/cmake/network-system.pc.in" "$prefix/lib/pkgconfig/network-system.pc"
echo "installed netsys $version into $prefix"
