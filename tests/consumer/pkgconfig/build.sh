#!/bin/sh
# Consumer built with pkg-config only: PKG_CONFIG_PATH must point at
# PREFIX/lib/pkgconfig. The rpath is what README's install section shows
# for a prefix off the loader's path; NO_RPATH=1 leaves it out.
# usage: [NO_RPATH=1] build.sh OUTPUT
set -eu
here=$(dirname "$0")
rpath="-Wl,-rpath,$(pkg-config --variable=libdir network-system)"
[ -n "${NO_RPATH:-}" ] && rpath=
${CC:-cc} -std=c99 -Wall -Werror -o "$1" "$here/../consumer.c" \
    $(pkg-config --cflags --libs network-system) $rpath
