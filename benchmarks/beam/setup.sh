#!/usr/bin/env bash
# Install the Erlang/OTP runtime used by the BEAM side of the benchmarks.
# Idempotent: does nothing if `erl` is already on PATH. Debian's
# erlang-base (OTP 25 on bookworm) is enough: it ships erl, erlc and the
# stdlib/kernel applications (gen_server, atomics) the benchmark uses.
set -euo pipefail

if command -v erl >/dev/null 2>&1 && command -v erlc >/dev/null 2>&1; then
    echo "erlang already installed: $(command -v erl)" >&2
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -y
$SUDO apt-get install -y --no-install-recommends erlang-base

erl -noshell -eval 'io:format(standard_error, "erlang OTP ~s installed~n", [erlang:system_info(otp_release)]), halt().'
