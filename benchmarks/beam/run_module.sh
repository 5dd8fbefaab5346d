#!/usr/bin/env bash
# Run ONE measurement of a BEAM benchmark program.
#
#   benchmarks/beam/run_module.sh <module> <bench> <n>
#
# <module> is actors_bench, supervision_bench or pubsub_bench (the
# run_beam*.sh scripts name it). The module and bench_util.erl, which they
# share, are compiled into a fresh temporary directory each time, so nothing
# is written into the source tree. Prints one JSON object per line on stdout;
# diagnostics go to stderr.
#
# Emulator flags:
#   +S 2:2       two schedulers, two online (the machine has 2 cores)
#   +P 4000000   room for 2M+ benchmark processes (default limit 262144)
set -euo pipefail

if [ $# -ne 3 ]; then
    echo "usage: $0 <module> <bench> <n>" >&2
    exit 2
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

erlc -o "$TMP" "$HERE/bench_util.erl" "$HERE/$1.erl" >&2
erl -noshell -noinput +S 2:2 +P 4000000 -pa "$TMP" \
    -run "$1" main "$2" "$3" -s init stop
