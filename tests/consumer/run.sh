#!/bin/sh
# Installs netsys into a fresh temporary prefix, moves the prefix elsewhere
# (the package must be relocatable), then builds and runs two consumers
# against it: one with find_package(NetworkSystem CONFIG REQUIRED), one with
# pkg-config. A program linked without an rpath must fail to start until
# the library's directory is on the loader's path, and `make install` must
# say so. usage: run.sh MAKE BUILD_DIR
set -eu
make=$1 build=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
version=$(cat "$src/VERSION")
somajor=${version%%.*}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$make -s -C "$src" install PREFIX="$tmp/first" >"$tmp/install.out"
grep -q "^installed netsys $version into $tmp/first" "$tmp/install.out" &&
    grep -q "not on the dynamic loader's" "$tmp/install.out" &&
    grep -q -- "-Wl,-rpath,\$(pkg-config --variable=libdir network-system)" "$tmp/install.out" &&
    grep -q "LD_LIBRARY_PATH=$tmp/first/lib" "$tmp/install.out" || {
    echo "consumer: make install did not explain how to reach a prefix off the loader's path:" >&2
    cat "$tmp/install.out" >&2
    exit 1
}
mv "$tmp/first" "$tmp/moved"
prefix=$tmp/moved

# Nothing installed may mention the build tree or the first prefix.
if grep -rl -e "$src" -e "$tmp/first" "$prefix/lib/cmake" "$prefix/lib/pkgconfig"; then
    echo "consumer: installed package files contain absolute paths" >&2
    exit 1
fi
for f in lib/libnetsys.so lib/libnetsys.so.$somajor lib/libnetsys.so.$version include/netsys.h \
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
test "$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --modversion network-system)" = "$version"
"$tmp/pc-consumer"

echo "== consumer: pkg-config without an rpath needs LD_LIBRARY_PATH (as the install step says)"
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" NO_RPATH=1 sh "$src/tests/consumer/pkgconfig/build.sh" "$tmp/pc-norpath"
if env -u LD_LIBRARY_PATH "$tmp/pc-norpath" >"$tmp/norpath.out" 2>&1; then
    echo "consumer: a program without an rpath found libnetsys off the loader's path (stale ldconfig entry?)" >&2
    exit 1
fi
grep -q "libnetsys.so.$somajor" "$tmp/norpath.out" || { cat "$tmp/norpath.out" >&2; exit 1; }
LD_LIBRARY_PATH="$prefix/lib" "$tmp/pc-norpath"

echo "== consumer: the C++ snippet of bindings/cpp/README.md, built as it says"
awk '/^```cpp$/ {on = 1; next} on && /^```$/ {exit} on {print}' "$src/bindings/cpp/README.md" >"$tmp/readme.cpp"
test -s "$tmp/readme.cpp" || { echo "consumer: no C++ snippet in bindings/cpp/README.md" >&2; exit 1; }
PKG_CONFIG_PATH="$prefix/lib/pkgconfig"; export PKG_CONFIG_PATH
${CXX:-c++} -std=c++17 -Wall -Werror -o "$tmp/readme-cpp" "$tmp/readme.cpp" \
    $(pkg-config --cflags --libs network-system) -Wl,-rpath,"$(pkg-config --variable=libdir network-system)"
test "$(timeout 30 "$tmp/readme-cpp")" = hello || { echo "consumer: the README's C++ snippet did not print hello" >&2; exit 1; }
echo "consumer: README snippet ok"
