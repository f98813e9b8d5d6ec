"""The per-message path, compiled as it is written.

A build compiles the modules in ``HOT_PATH`` with Cython, unchanged: each ``.py`` file here is
both the source of its extension module and its own pure twin (unlike the kernels, which are
typed Cython in ``src/_core`` beside pure twins in ``smtpx._pure``). These are the modules a
message passes through: the facade's send methods and its property table (the spec each send()
checks), the sync session driver, the engine's
transaction loop and the values it makes for every message (actions, envelope: their
``__init__`` written out, as a generated dataclass one stays Python), what a message to a new
address passes through (the address parser, the envelope checks, the command lines), the
stream, and the pools' dispatch. Compiled, they lose the interpreter's
dispatch (about 17% of ``send_raw``'s time, 8% of ``send()``'s and 10-20% of a pool's, on
smtp-sink: docs/internals.md), nothing else: Cython compiles them with
``annotation_typing=False``, so annotations stay annotations and every module behaves as its
source says. A module earns its place by a measured gain: each one adds to every build's
compile time.

A ``.pxd`` file beside some of these ``.py`` files (runner, channel, outbox, transaction, commands,
engine, planning, transfer, clock, stream, facade.batch) makes their per-message classes extension types when
compiled: attributes in a C struct, the helpers that are not generators ``cpdef``. The ``.py``
stays the pure twin; compiled, an instance takes only its declared attributes
(tests/kernels/test_typed_classes.py holds each ``.pxd`` to its ``.py``; docs/internals.md).
message.compose's ``.pxd`` declares no class: it makes two module helpers ``cpdef``.

Python prefers an extension module to a source file of the same name, so at run time
``SMTPX_NO_EXTENSIONS=1`` (read once, when smtpx is first imported) installs a finder that loads
these modules from their ``.py`` files instead, as it selects the pure kernels
(smtpx.kernels). ``loaded_compiled()`` says which of them this process runs compiled.

setup.py reads ``HOT_PATH`` from this file's source (it cannot import the package it builds),
so it stays a literal tuple.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType
from typing import Sequence

__all__ = ["HOT_PATH", "loaded_compiled", "prefer_source"]

HOT_PATH: tuple[str, ...] = (
    "smtpx.facade.base",
    "smtpx.facade.smtp",
    "smtpx.facade.batch",
    "smtpx.facade.properties",
    "smtpx.session.core",
    "smtpx.session.sync",
    "smtpx.session.multiplex",
    "smtpx.engine.engine",
    "smtpx.engine.runner",
    "smtpx.engine.channel",
    "smtpx.engine.transaction",
    "smtpx.engine.planning",
    "smtpx.engine.commands",
    "smtpx.engine.validation",
    "smtpx.engine.transfer",
    "smtpx.engine.outbox",
    "smtpx.engine.actions",
    "smtpx.engine.envelope",
    "smtpx.transport.stream",
    "smtpx.transport.clock",
    "smtpx.message.raw",
    "smtpx.message.addresses",
    "smtpx.message.compose",
    "smtpx.pool.base",
    "smtpx.pool.core",
    "smtpx.pool.sync",
    "smtpx.pool.aio",
)


def loaded_compiled() -> list[str]:
    """The HOT_PATH modules this process has imported from extension modules (compiled)."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    found = []
    for name in HOT_PATH:
        module = sys.modules.get(name)
        if module is not None and (getattr(module, "__file__", None) or "").endswith(suffixes):
            found.append(name)
    return found


class _SourceFirst:
    """A meta path finder for HOT_PATH only: the module's ``.py`` file, never its extension."""

    @staticmethod
    def find_spec(fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in HOT_PATH or not path:
            return None
        leaf = fullname.rpartition(".")[2] + ".py"
        for folder in path:
            source = os.path.join(folder, leaf)
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location(fullname, source)
        return None  # not here: the normal finders decide


def prefer_source() -> None:
    """Load the HOT_PATH modules imported from now on from their ``.py`` files."""
    if not any(isinstance(finder, _SourceFirst) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SourceFirst())


if os.environ.get("SMTPX_NO_EXTENSIONS") == "1":
    prefer_source()
