#!/usr/bin/env bash
# The kernel and engine tests again, against a pure-Python install (SMTPX_NO_EXTENSIONS=1 at
# build time and at run time), in its own virtual environment (.venv-pure).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-pure
.venv-pure/bin/python -m pip install -q --upgrade pip
SMTPX_NO_EXTENSIONS=1 .venv-pure/bin/python -m pip install -q ".[test]"
export SMTPX_NO_EXTENSIONS=1
.venv-pure/bin/python -c "import smtpx.kernels as k; assert k.IMPLEMENTATION == 'py'; assert k.load_compiled() is None, 'this install must be pure'; print('smtpx kernels:', k.IMPLEMENTATION)"
.venv-pure/bin/python -m pytest -q -p no:cacheprovider tests/kernels tests/engine "$@"
