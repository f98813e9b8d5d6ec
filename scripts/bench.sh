#!/usr/bin/env bash
# Benchmarks (pytest-benchmark): each candidate beside its baseline in the same run; the
# ratios are printed at the end. Uses the .venv made by scripts/test.sh (compiled build).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { bash scripts/install-test-deps.sh; python3 -m venv .venv; .venv/bin/python -m pip install -q ".[test]"; }
.venv/bin/python -m pip install -q ".[test]"
.venv/bin/python -m pytest -q -p no:cacheprovider bench "$@"
