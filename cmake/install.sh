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
# location, so the version (and its major part) is the only thing substituted.
configure() {
    sed -e "s/@NETSYS_VERSION@/$version/g" -e "s/@NETSYS_SOMAJOR@/$somajor/g" "$1" >"$2.tmp"
    if cmp -s "$2.tmp" "$2"; then rm -f "$2.tmp"; else mv "$2.tmp" "$2"; fi
}
configure "$src/cmake/NetworkSystemConfig.cmake.in" "$prefix/lib/cmake/NetworkSystem/NetworkSystemConfig.cmake"
configure "$src/cmake/NetworkSystemConfigVersion.cmake.in" "$prefix/lib/cmake/NetworkSystem/NetworkSystemConfigVersion.cmake"
configure "$src/cmake/network-system.pc.in" "$prefix/lib/pkgconfig/network-system.pc"

[ -n "${NETSYS_INSTALL_QUIET:-}" ] && exit 0
echo "installed netsys $version into $prefix"
echo "  library     $prefix/lib/libnetsys.so.$version (SONAME libnetsys.so.$somajor)"
echo "  headers     $prefix/include/netsys.h, $prefix/include/network_system/"
echo "  CMake       find_package(NetworkSystem CONFIG) with -DCMAKE_PREFIX_PATH=$prefix"
echo "  pkg-config  network-system (PKG_CONFIG_PATH=$prefix/lib/pkgconfig)"
[ -x "$prefix/bin/netsys" ] && echo "  CLI         $prefix/bin/netsys (see docs/netsys-cli.md)"

# Programs linked with -lnetsys find the library at run time only if its
# directory is on the dynamic loader's path; say so when it is not.
abs_lib=$(cd "$prefix/lib" && pwd -P)
if command -v ldconfig >/dev/null 2>&1 &&
   ldconfig -p 2>/dev/null | grep -q "libnetsys.so.$somajor .*=> $abs_lib/libnetsys.so.$somajor\$"; then
    exit 0
fi
configured=
for d in /lib /usr/lib /lib64 /usr/lib64 $(cat /etc/ld.so.conf /etc/ld.so.conf.d/*.conf 2>/dev/null | grep '^/'); do
    [ "$(cd "$d" 2>/dev/null && pwd -P)" = "$abs_lib" ] && configured=yes
done
echo
if [ -n "$configured" ]; then
    echo "The library is in $prefix/lib, which the dynamic loader searches, but its"
    echo "cache does not list it yet: run ldconfig (as root) once."
else
    echo "The library is in $prefix/lib; that directory is not on the dynamic loader's"
    echo "path, so a program linked with -lnetsys fails to start (libnetsys.so.$somajor:"
    echo "cannot open shared object file) unless you do one of:"
    echo "  - link with an rpath:"
    echo "      cc app.c \$(pkg-config --cflags --libs network-system) \\"
    echo "         -Wl,-rpath,\$(pkg-config --variable=libdir network-system)"
    echo "  - run with LD_LIBRARY_PATH=$prefix/lib"
    echo "  - add it to the loader's path (as root):"
    echo "      echo $abs_lib > /etc/ld.so.conf.d/netsys.conf && ldconfig"
fi
