#!/usr/bin/env bash
# Builds smtpx (compiled kernels and modules) on the newest CPython this machine has besides
# the main one (3.13, via pyenv or python3.13 on PATH) and runs the kernel, engine, SASL,
# compose, config, TLS (3.13 changed ssl) and asyncio tests on it (after scripts/test.sh, so
# the servers they need exist). Python 3.11 runs everything (scripts/test.sh) and 3.10, the
# oldest supported, nearly everything with every dependency at its floor
# (scripts/test-lowest.sh). Python 3.12 lies between two tested versions and is not run: its
# build and tests took about 100 s, and CI's budget is 20 minutes on 2 cores (this machine
# needed 20 min 48 s with it). Extra versions can be given: bash scripts/test-compat.sh 3.12
# A version that is not installed is skipped with a message; a failure on one that is, fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/test-workers.sh
source scripts/stages.sh
source scripts/sources.sh
versions=("$@")
if preparing; then  # each version builds from a clean copy of the sources (scripts/sources.sh)
  src_copy=$(mktemp -d)
  trap 'rm -rf "$src_copy"' EXIT
  copy_sources "$src_copy"
fi
[ ${#versions[@]} -gt 0 ] || versions=(3.13)
for version in "${versions[@]}"; do
  python_bin=""
  if [ -d "${PYENV_ROOT:-$HOME/.pyenv}/versions" ]; then
    match=$(ls "${PYENV_ROOT:-$HOME/.pyenv}/versions" | grep -E "^${version//./\\.}\.[0-9]+$" | sort -V | tail -n 1 || true)
    [ -n "$match" ] && python_bin="${PYENV_ROOT:-$HOME/.pyenv}/versions/$match/bin/python3"
  fi
  [ -n "$python_bin" ] || python_bin=$(command -v "python$version" || true)
  if [ -z "$python_bin" ] || ! "$python_bin" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$version'.split('.')))" 2>/dev/null; then
    echo "compat: Python $version is not installed here; skipped"
    continue
  fi
  venv=".venv-$version"
  if preparing; then
    "$python_bin" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q "$src_copy[test]"
    "$venv/bin/python" -c "import sys, smtpx.kernels as k; assert k.IMPLEMENTATION == 'c'; print('compat:', sys.version.split()[0], 'kernels', k.IMPLEMENTATION)"
  fi
  if running; then
    if [ "$version" = "3.13" ]; then  # the newest: also config, TLS (3.13 changed ssl) and asyncio
      suites=(tests/kernels tests/engine tests/sasl tests/compose tests/config tests/tls tests/aio)
    else  # in between: the compiled kernels and the engine (CI's 20-minute budget)
      suites=(tests/kernels tests/engine tests/sasl tests/compose)
    fi
    SMTPX_REQUIRE_COMPILED=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider "${xdist[@]}" "${suites[@]}"
  fi
done
