#!/usr/bin/env bash
# Run ONE BEAM actor benchmark measurement.
#
#   benchmarks/beam/run_beam.sh <bench> <n>
#
# <bench>: spawn | spawn_hibernated | fanout | pingpong | call |
#          send_1to1 | send_nto1
# Prints one JSON object per line on stdout (see actors_bench.erl);
# diagnostics go to stderr. The module is compiled into a fresh temporary
# directory each time, so nothing is written into the source tree.
#
# Emulator flags:
#   +S 2:2       two schedulers, two online (the machine has 2 cores)
#   +P 4000000   room for 2M+ benchmark processes (default limit 262144)
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 <bench> <n>" >&2
    exit 2
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

erlc -o "$TMP" "$HERE/actors_bench.erl" >&2
erl -noshell -noinput +S 2:2 +P 4000000 -pa "$TMP" \
    -run actors_bench main "$1" "$2" -s init stop
