#!/usr/bin/env bash
# Run ONE BEAM supervision benchmark measurement.
#
#   benchmarks/beam/run_beam_supervision.sh <bench> <n>
#
# <bench>: sup_children | restart
# Prints one JSON object per line on stdout (see supervision_bench.erl);
# diagnostics go to stderr. The module is compiled into a fresh temporary
# directory each time, so nothing is written into the source tree.
#
# Emulator flags (as run_beam.sh):
#   +S 2:2       two schedulers, two online (the machine has 2 cores)
#   +P 4000000   room for 1M+ supervised children (default limit 262144)
#
# Set SUPERVISION_BENCH_LOG=1 to keep OTP's supervisor reports (printed on
# stderr); by default they are switched off.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 <bench> <n>" >&2
    exit 2
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

erlc -o "$TMP" "$HERE/supervision_bench.erl" >&2
erl -noshell -noinput +S 2:2 +P 4000000 -pa "$TMP" \
    -run supervision_bench main "$1" "$2" -s init stop
