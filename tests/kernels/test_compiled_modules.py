"""The per-message path's modules compiled as written (smtpx.compiled): a build compiles every
module of HOT_PATH, a run with SMTPX_REQUIRE_COMPILED=1 (the test command) loads each of them
compiled, and SMTPX_NO_EXTENSIONS=1 at run time loads each from its .py file instead. The same
suites run on both: the compiled ones here, the pure ones in scripts/test-pure.sh."""
from __future__ import annotations

import ast
import importlib
import importlib.machinery
import os
import subprocess
import sys
from pathlib import Path

import pytest

from smtpx import compiled

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(compiled.__file__).resolve().parent


def _import_all() -> None:
    for name in compiled.HOT_PATH:
        importlib.import_module(name)


def test_every_hot_path_module_is_a_source_file():
    for name in compiled.HOT_PATH:
        assert name.startswith("smtpx."), name
        source = PACKAGE.joinpath(*name.split(".")[1:]).with_suffix(".py")
        assert source.is_file(), f"{name}: no {source}"


def test_setup_py_reads_the_same_list():
    """setup.py cannot import smtpx; it reads HOT_PATH from the source with ast as here."""
    setup = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    # Only hot_path(), with the two modules it uses (setuptools may not be installed here).
    namespace: dict[str, object] = {"ast": ast, "os": os}
    found = [node for node in setup.body if isinstance(node, ast.FunctionDef) and node.name == "hot_path"]
    assert len(found) == 1, "setup.py has no hot_path()"
    exec(compile(ast.Module(found, []), "setup.py", "exec"), namespace)
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)
        assert namespace["hot_path"]() == compiled.HOT_PATH  # type: ignore[operator]
    finally:
        os.chdir(cwd)


@pytest.mark.skipif(os.environ.get("SMTPX_REQUIRE_COMPILED") != "1",
                    reason="only a run that requires the compiled build (the test command) checks it")
def test_the_compiled_build_loads_every_module_compiled():
    _import_all()
    assert compiled.loaded_compiled() == list(compiled.HOT_PATH)


def test_no_extensions_at_run_time_loads_every_module_from_source():
    """Python prefers an extension module to a .py file; SMTPX_NO_EXTENSIONS=1 turns that round
    for HOT_PATH (the kernels' selector does the same for smtpx._core)."""
    script = (
        "import importlib, smtpx.compiled as c, smtpx.kernels as k\n"
        "for name in c.HOT_PATH: importlib.import_module(name)\n"
        "import sys\n"
        "print(k.IMPLEMENTATION, c.loaded_compiled(), all(sys.modules[n].__file__.endswith('.py') for n in c.HOT_PATH))\n"
    )
    env = dict(os.environ, SMTPX_NO_EXTENSIONS="1")
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["py", "[]", "True"]


def test_the_source_finder_leaves_every_other_module_alone():
    finder = compiled._SourceFirst()
    assert finder.find_spec("smtpx.errors", [str(PACKAGE)]) is None
    assert finder.find_spec("json", None) is None
    spec = finder.find_spec("smtpx.engine.runner", [str(PACKAGE / "engine")])
    assert spec is not None and spec.origin == str(PACKAGE / "engine" / "runner.py")
    assert isinstance(spec.loader, importlib.machinery.SourceFileLoader)
