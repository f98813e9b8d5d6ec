#!/usr/bin/env bash
# Builds smtpx (compiled kernels) on the other CPython versions this machine has (3.12 and
# 3.13 via pyenv or python3.X on PATH) and runs the kernel, engine, SASL and compose tests on
# 3.12, and those and the config, TLS and asyncio tests on 3.13 (after scripts/test.sh, so the
# servers they need exist). The sync facade's tests run on 3.11 (scripts/test.sh) and 3.10
# (scripts/test-lowest.sh); CI's budget is 20 minutes on 2 cores.
# Python 3.10, the oldest supported, is covered by scripts/test-lowest.sh (the same tests and
# more, with every dependency at its floor), so it is not run twice.
# A version that is not installed is skipped with a message; a failure on one that is, fails.
set -euo pipefail
cd "$(dirname "$0")/.."
for version in 3.12 3.13; do
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
  "$python_bin" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q ".[test]"
  "$venv/bin/python" -c "import sys, smtpx.kernels as k; assert k.IMPLEMENTATION == 'c'; print('compat:', sys.version.split()[0], 'kernels', k.IMPLEMENTATION)"
  if [ "$version" = "3.13" ]; then  # the newest: also config, TLS (3.13 changed ssl) and asyncio
    suites=(tests/kernels tests/engine tests/sasl tests/compose tests/config tests/tls tests/aio)
  else  # in between: the compiled kernels and the engine (CI's 20-minute budget)
    suites=(tests/kernels tests/engine tests/sasl tests/compose)
  fi
  SMTPX_REQUIRE_COMPILED=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider "${suites[@]}"
done
