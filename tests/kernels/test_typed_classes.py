"""The per-message path's classes that a build makes extension types (a ``.pxd`` beside the
``.py``: smtpx.compiled). Compiled, such a class has exactly the attributes its ``.pxd``
declares (no instance dict), so an attribute the ``.py`` sets without a declaration would work
in the pure twin and raise AttributeError compiled, and only on the path that sets it. These
tests read both files and hold them together, whichever build runs them; the compiled run
also checks that the classes really are extension types."""
from __future__ import annotations

import ast
import importlib
import os
import re
from pathlib import Path

import pytest

from smtpx import compiled

PACKAGE = Path(compiled.__file__).resolve().parent
PXDS = sorted(PACKAGE.rglob("*.pxd"))

_CLASS = re.compile(r"^cdef class (\w+)(?:\((\w+)\))?:", re.M)
_FIELDS = re.compile(r"^    cdef public \w+ ([\w, ]+)$", re.M)
_CPDEF = re.compile(r"^    cpdef (\w+)\(", re.M)


def _module(pxd: Path) -> str:
    return "smtpx." + ".".join(pxd.relative_to(PACKAGE).with_suffix("").parts)


def _declared(pxd: Path) -> dict[str, tuple[str | None, set[str], set[str]]]:
    """class -> (its base in the .pxd, declared attributes, cpdef methods)."""
    text = pxd.read_text(encoding="utf-8")
    found: dict[str, tuple[str | None, set[str], set[str]]] = {}
    blocks = list(_CLASS.finditer(text))
    for i, match in enumerate(blocks):
        end = blocks[i + 1].start() if i + 1 < len(blocks) else len(text)
        body = text[match.end():end]
        fields = {name.strip() for line in _FIELDS.findall(body) for name in line.split(",")}
        found[match.group(1)] = (match.group(2), fields, set(_CPDEF.findall(body)))
    return found


def _all_declared() -> dict[str, set[str]]:
    """class -> its attributes and those of its declared bases (any .pxd)."""
    own = {name: entry for pxd in PXDS for name, entry in _declared(pxd).items() if entry[1] or entry[0]}
    result: dict[str, set[str]] = {}
    for name in own:
        fields: set[str] = set()
        current: str | None = name
        while current is not None and current in own:
            base, declared, _ = own[current]
            fields |= declared
            current = base
        result[name] = fields
    return result


def _source_class(pxd: Path, name: str) -> ast.ClassDef:
    tree = ast.parse(pxd.with_suffix(".py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise AssertionError(f"{pxd.name} declares {name}, which {pxd.with_suffix('.py').name} does not define")


def _assigned_on_self(cls: ast.ClassDef) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(cls):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        while targets:
            target = targets.pop()
            if isinstance(target, (ast.Tuple, ast.List)):
                targets.extend(target.elts)
            elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
                names.add(target.attr)
    return names


def _cases() -> list[tuple[Path, str]]:
    return [(pxd, name) for pxd in PXDS for name in _declared(pxd) if _declared(pxd)[name][1] or _declared(pxd)[name][0]]


def test_every_pxd_belongs_to_a_compiled_module():
    assert PXDS, "no .pxd found: the typed classes are gone (update this test and docs/internals.md)"
    for pxd in PXDS:
        assert _module(pxd) in compiled.HOT_PATH, f"{pxd.name} sits beside a module the build does not compile"


@pytest.mark.parametrize("pxd, name", _cases(), ids=lambda value: getattr(value, "name", value))
def test_the_pxd_declares_exactly_the_attributes_the_source_sets(pxd: Path, name: str):
    cls = _source_class(pxd, name)
    declared = _all_declared()[name]
    assigned = _assigned_on_self(cls)
    assert assigned - declared == set(), f"{name}: set in the .py, not declared in {pxd.name}"
    own = _declared(pxd)[name][1]
    # A declaration nothing sets is stale (unless another class, e.g. a subclass, sets it).
    set_anywhere = set().union(*(_assigned_on_self(_source_class(p, n)) for p, n in _cases()))
    assert own - set_anywhere == set(), f"{name}: declared in {pxd.name}, never set"


@pytest.mark.parametrize("pxd, name", _cases(), ids=lambda value: getattr(value, "name", value))
def test_no_class_level_value_shadows_a_declared_attribute(pxd: Path, name: str):
    """Cython refuses a class attribute of the same name as a declared one; the pure twin would
    read it as a default that the compiled class does not have."""
    cls = _source_class(pxd, name)
    declared = _declared(pxd)[name][1]
    for node in cls.body:
        target = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target = node.target
        if isinstance(target, ast.Name):
            assert target.id not in declared, f"{name}.{target.id}: a class-level value and a declared attribute"


@pytest.mark.parametrize("pxd, name", _cases(), ids=lambda value: getattr(value, "name", value))
def test_every_cpdef_method_is_a_plain_method_of_the_source(pxd: Path, name: str):
    """A cpdef method cannot be a generator (Cython would refuse it; this says which)."""
    cls = _source_class(pxd, name)
    methods = {node.name: node for node in cls.body if isinstance(node, ast.FunctionDef)}
    for method in _declared(pxd)[name][2]:
        assert method in methods, f"{name}.{method}: declared cpdef, not defined"
        body = methods[method]
        assert not any(isinstance(node, (ast.Yield, ast.YieldFrom)) for node in ast.walk(body)), \
            f"{name}.{method} is a generator: it cannot be cpdef"


@pytest.mark.skipif(os.environ.get("SMTPX_REQUIRE_COMPILED") != "1",
                    reason="only a run that requires the compiled build (the test command) checks it")
@pytest.mark.parametrize("pxd, name", _cases(), ids=lambda value: getattr(value, "name", value))
def test_compiled_the_class_is_an_extension_type_without_an_instance_dict(pxd: Path, name: str):
    cls = getattr(importlib.import_module(_module(pxd)), name)
    assert "__dict__" not in dir(cls), f"{name} has an instance dict: its .pxd was not used"
    with pytest.raises(AttributeError):
        cls.__new__(cls).not_declared_anywhere = 1  # what a missing declaration would raise
