#!/usr/bin/env bash
# Pure Python, in its own virtual environment (.venv-pure):
# 1. a build with no working C compiler must still install (the kernels and the compiled
#    modules of smtpx.compiled.HOT_PATH fall back to Python);
# 2. the kernel and engine tests, and the stream's and one-message send's (the rest of the
#    per-message path, HOT_PATH), again against an install made with SMTPX_NO_EXTENSIONS=1,
#    run with SMTPX_NO_EXTENSIONS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/test-workers.sh
source scripts/stages.sh
source scripts/sources.sh
if preparing; then
  python3 -m venv .venv-pure
  .venv-pure/bin/python -m pip install -q --upgrade pip

  # From a clean copy of the sources: an earlier build's objects (build/) must not be reused.
  src_copy=$(mktemp -d)
  trap 'rm -rf "$src_copy"' EXIT
  copy_sources "$src_copy"
  CC=/bin/false LDSHARED=/bin/false .venv-pure/bin/python -m pip install -q --force-reinstall --no-deps "$src_copy"
  (cd / && "$OLDPWD/.venv-pure/bin/python" -c "
import importlib.machinery, pathlib, smtpx, smtpx.kernels as k
assert k.IMPLEMENTATION == 'py' and k.load_compiled() is None
built = [p for p in pathlib.Path(smtpx.__file__).parent.rglob('*') if p.name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))]
assert not built, built
print('no compiler: installed, kernels', k.IMPLEMENTATION, 'and no compiled module')")

  SMTPX_NO_EXTENSIONS=1 .venv-pure/bin/python -m pip install -q --force-reinstall "$src_copy[test]"
  export SMTPX_NO_EXTENSIONS=1
  .venv-pure/bin/python -c "import smtpx.kernels as k; assert k.IMPLEMENTATION == 'py'; assert k.load_compiled() is None, 'this install must be pure'; print('smtpx kernels:', k.IMPLEMENTATION)"
fi
if running; then
  export SMTPX_NO_EXTENSIONS=1
  .venv-pure/bin/python -m pytest -q -p no:cacheprovider "${xdist[@]}" tests/kernels tests/engine tests/transport \
    tests/facade/test_send.py tests/facade/test_driver.py "$@"
fi
