"""A griffe extension for the API reference (mkdocs.yml): the rows of smtpx's property table.

``send_to = Prop[str, str](..., doc="...")`` in smtpx.facade.properties is a property at run
time, with ``doc`` as its docstring; read statically it is a plain attribute without one.
This gives each such row its ``doc`` text and the "property" label, without importing smtpx.
"""
from __future__ import annotations

import ast
from typing import Any

import griffe


def _prop_doc(value: ast.AST) -> str | None:
    """The ``doc=`` text of a ``Prop[...](...)`` call (adjacent string literals joined)."""
    if not isinstance(value, ast.Call):
        return None
    func = value.func
    if isinstance(func, ast.Subscript):
        func = func.value
    if not (isinstance(func, ast.Name) and func.id == "Prop"):
        return None
    for keyword in value.keywords:
        if keyword.arg == "doc" and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
            return keyword.value.value
    return None


class PropDocs(griffe.Extension):
    def on_attribute_instance(self, *, node: Any, attr: griffe.Attribute, agent: Any, **kwargs: Any) -> None:
        if not isinstance(node, ast.Assign):
            return
        text = _prop_doc(node.value)
        if text is None:
            return
        attr.docstring = griffe.Docstring(text, parent=attr)
        attr.labels -= {"class-attribute", "instance-attribute"}
        attr.labels.add("property")
        attr.labels.add("writable")
        attr.value = None  # the Prop(...) call is the table's plumbing, not what a user reads
