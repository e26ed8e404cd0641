#!/bin/sh
# Consumer built with pkg-config only: PKG_CONFIG_PATH must point at
# PREFIX/lib/pkgconfig. usage: build.sh OUTPUT
set -eu
here=$(dirname "$0")
libdir=$(pkg-config --variable=libdir network-system)
${CC:-cc} -std=c99 -Wall -Werror -o "$1" "$here/../consumer.c" \
    $(pkg-config --cflags --libs network-system) -Wl,-rpath,"$libdir"
