#!/bin/sh
# Installs netsys into a fresh temporary prefix, moves the prefix elsewhere
# (the package must be relocatable), then builds and runs two consumers
# against it: one with find_package(NetworkSystem CONFIG REQUIRED), one with
# pkg-config. usage: run.sh MAKE BUILD_DIR
set -eu
make=$1 build=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$make -s -C "$src" install PREFIX="$tmp/first" >/dev/null
mv "$tmp/first" "$tmp/moved"
prefix=$tmp/moved

# Nothing installed may mention the build tree or the first prefix.
if grep -rl -e "$src" -e "$tmp/first" "$prefix/lib/cmake" "$prefix/lib/pkgconfig"; then
    echo "consumer: installed package files contain absolute paths" >&2
    exit 1
fi
for f in lib/libnetsys.so lib/libnetsys.so.1 lib/libnetsys.so.1.0.0 include/netsys.h \
         lib/cmake/NetworkSystem/NetworkSystemConfig.cmake \
         lib/cmake/NetworkSystem/NetworkSystemConfigVersion.cmake lib/pkgconfig/network-system.pc; do
    test -e "$prefix/$f" || { echo "consumer: $f not installed" >&2; exit 1; }
done

echo "== consumer: find_package(NetworkSystem) against $prefix"
gen=
command -v ninja >/dev/null && gen="-G Ninja"
cmake -S "$src/tests/consumer/cmake" -B "$tmp/cmake-build" $gen -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/cmake-build" >/dev/null
"$tmp/cmake-build/consumer"

echo "== consumer: pkg-config network-system against $prefix"
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" sh "$src/tests/consumer/pkgconfig/build.sh" "$tmp/pc-consumer"
test "$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --modversion network-system)" = 1.0.0
"$tmp/pc-consumer"
