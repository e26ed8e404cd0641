#!/bin/sh
# The library must export only netsys_* symbols (no _cgo_*, no Go runtime),
# carry the SONAME libnetsys.so.1, and define every function declared in
# include/netsys.h.
# usage: check_symbols.sh LIBDIR
set -eu
lib=$1/libnetsys.so
fail=0
others=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^netsys_' || true)
if [ -n "$others" ]; then
    echo "check_symbols: non-netsys symbols exported:"; echo "$others" | head -20; fail=1
fi
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ "$soname" != "libnetsys.so.1" ]; then
    echo "check_symbols: SONAME is '$soname', want libnetsys.so.1"; fail=1
fi
dir=$(dirname "$0")
declared=$(grep -vE "^[[:space:]]*(///|/\*|\*)" "$dir/../../include/netsys.h" | grep -oE "\bnetsys_[a-z_]+\(" | tr -d "(" | sort -u)
defined=$(nm -D --defined-only "$lib" | awk '{print $3}' | sort -u)
for f in $declared; do
    if ! echo "$defined" | grep -qx "$f"; then
        echo "check_symbols: $f is declared in netsys.h but not exported"; fail=1
    fi
done
n=$(echo "$defined" | grep -c '^netsys_')
if [ "$fail" -ne 0 ]; then exit 1; fi
echo "check_symbols: ok ($n netsys_ symbols, SONAME $soname, nothing else exported)"
