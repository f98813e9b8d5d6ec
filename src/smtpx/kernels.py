"""The kernel selector: the compiled kernels (smtpx._core) unless SMTPX_NO_EXTENSIONS=1 is
set at run time, the interpreter is not CPython, or the extension was not built; then the
pure-Python twins (smtpx._pure), which have the same names, signatures, results and errors.

``IMPLEMENTATION`` says which one is in use: ``"c"`` or ``"py"``. It is all or nothing, so a
half-built extension never mixes the two.

Type checkers see the pure twins (the ``TYPE_CHECKING`` branch at the end): they are the
specification, and the compiled kernels have the same names, signatures and results.
"""
from __future__ import annotations

import importlib
import os
import sys
from types import SimpleNamespace
from typing import TYPE_CHECKING

# module -> the names it exports
KERNEL_MODULES: dict[str, tuple[str, ...]] = {
    "stuffing": ("DotStuffer", "CRLFNormalizer"),
    "replies": ("Reply", "ReplyScanner"),
    "folding": ("fold_header",),
    "transfer_encoding": ("b64_encode_wrapped", "qp_encode", "Base64Encoder", "QPEncoder"),
    "classify": ("classify_body", "BodyClass"),
    "dkim_canon": ("DKIMBodyCanonicalizer", "dkim_canonicalize_header"),
    "window": ("data_window", "bdat_window", "match_window", "plain_replies"),
    "sockio": ("recv_nowait",),
    "address_check": ("is_plain_address",),
    "untracked": ("untracked",),
    "slots": ("slot_maker",),
}


def _load(package: str) -> SimpleNamespace:
    names: dict[str, object] = {}
    for module_name, exported in KERNEL_MODULES.items():
        module = importlib.import_module(f"{package}.{module_name}")
        for name in exported:
            names[name] = getattr(module, name)
    return SimpleNamespace(**names)


def load_pure() -> SimpleNamespace:
    """The pure-Python kernels, whatever the environment says."""
    return _load("smtpx._pure")


def load_compiled() -> SimpleNamespace | None:
    """The compiled kernels, or None when they were not built (or cannot load)."""
    if sys.implementation.name != "cpython":
        return None
    try:
        return _load("smtpx._core")
    except ImportError:
        return None


def _select() -> tuple[str, SimpleNamespace]:
    if os.environ.get("SMTPX_NO_EXTENSIONS") != "1":
        compiled = load_compiled()
        if compiled is not None:
            return "c", compiled
    return "py", load_pure()


IMPLEMENTATION, _chosen = _select()

if TYPE_CHECKING:  # ("X as X": re-exported)
    from smtpx._pure.address_check import is_plain_address as is_plain_address
    from smtpx._pure.classify import BodyClass as BodyClass, classify_body as classify_body
    from smtpx._pure.dkim_canon import (
        DKIMBodyCanonicalizer as DKIMBodyCanonicalizer,
        dkim_canonicalize_header as dkim_canonicalize_header,
    )
    from smtpx._pure.folding import fold_header as fold_header
    from smtpx._pure.replies import Reply as Reply, ReplyScanner as ReplyScanner
    from smtpx._pure.sockio import recv_nowait as recv_nowait
    from smtpx._pure.stuffing import CRLFNormalizer as CRLFNormalizer, DotStuffer as DotStuffer
    from smtpx._pure.slots import slot_maker as slot_maker
    from smtpx._pure.untracked import untracked as untracked
    from smtpx._pure.transfer_encoding import (
        Base64Encoder as Base64Encoder,
        QPEncoder as QPEncoder,
        b64_encode_wrapped as b64_encode_wrapped,
        qp_encode as qp_encode,
    )
    from smtpx._pure.window import (
        bdat_window as bdat_window,
        data_window as data_window,
        match_window as match_window,
        plain_replies as plain_replies,
    )
else:
    DotStuffer = _chosen.DotStuffer
    CRLFNormalizer = _chosen.CRLFNormalizer
    Reply = _chosen.Reply
    ReplyScanner = _chosen.ReplyScanner
    fold_header = _chosen.fold_header
    b64_encode_wrapped = _chosen.b64_encode_wrapped
    qp_encode = _chosen.qp_encode
    Base64Encoder = _chosen.Base64Encoder
    QPEncoder = _chosen.QPEncoder
    classify_body = _chosen.classify_body
    BodyClass = _chosen.BodyClass
    DKIMBodyCanonicalizer = _chosen.DKIMBodyCanonicalizer
    dkim_canonicalize_header = _chosen.dkim_canonicalize_header
    data_window = _chosen.data_window
    bdat_window = _chosen.bdat_window
    match_window = _chosen.match_window
    plain_replies = _chosen.plain_replies
    recv_nowait = _chosen.recv_nowait
    is_plain_address = _chosen.is_plain_address
    untracked = _chosen.untracked
    slot_maker = _chosen.slot_maker

__all__ = ["IMPLEMENTATION", "load_pure", "load_compiled", *[n for v in KERNEL_MODULES.values() for n in v]]
