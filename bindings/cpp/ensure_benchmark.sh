#!/bin/sh
# Installs Debian's Google Benchmark (libbenchmark-dev) if it is missing.
# Idempotent: does nothing when the CMake package is already present.
set -e
if [ -f /usr/lib/x86_64-linux-gnu/cmake/benchmark/benchmarkConfig.cmake ] ||
   ls /usr/lib/*/cmake/benchmark/benchmarkConfig.cmake >/dev/null 2>&1 ||
   [ -f /usr/local/lib/cmake/benchmark/benchmarkConfig.cmake ]; then
    exit 0
fi
echo "installing libbenchmark-dev (Google Benchmark)"
if [ "$(id -u)" -ne 0 ]; then
    echo "libbenchmark-dev is missing and installing it needs root: apt-get install libbenchmark-dev" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libbenchmark-dev
