#!/usr/bin/env bash
# The one test command. On a fresh machine it installs everything the tests need:
# Debian packages for the real servers, then a virtual environment (.venv) with smtpx built
# WITH its compiled kernels and the test dependencies. Then it runs the whole suite; every
# server a test needs is started by the test fixtures. Extra arguments go to pytest.
# SMTPX_STAGE=prepare or run does only the install or only the tests (scripts/stages.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/test-workers.sh
source scripts/stages.sh
if preparing; then
  bash scripts/install-test-deps.sh
  source scripts/ccache-env.sh
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q ".[test]"
  # The compiled build must be there: a silent fallback to pure Python must fail this run.
  .venv/bin/python -c "import smtpx.kernels as k; assert k.IMPLEMENTATION == 'c', 'compiled kernels missing'; print('smtpx kernels:', k.IMPLEMENTATION)"
  # The package's types are part of its API: mypy --strict must stay clean.
  .venv/bin/python -m mypy --strict src/smtpx
fi
if running; then
  SMTPX_REQUIRE_COMPILED=1 .venv/bin/python -m pytest -q -p no:cacheprovider "${xdist[@]}" tests "$@"
fi
