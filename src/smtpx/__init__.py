"""smtpx: a fast, complete SMTP client.

The public face is one class, :class:`smtpx.SMTP`, with the property / method / event /
config surface of the SMTP component in the class reference (names in snake_case).
"""
from __future__ import annotations

import logging as _logging
from typing import TYPE_CHECKING, Any

# First: with SMTPX_NO_EXTENSIONS=1 it makes every import after it load source, not extensions.
from smtpx import compiled as _compiled  # noqa: F401
from smtpx._version import __version__
from smtpx.enums import (
    AuthMechanism,
    CertStoreType,
    Direction,
    FirewallType,
    Importance,
    Priority,
    RecipientType,
    Sensitivity,
    SSLProvider,
    SSLStartMode,
)
from smtpx.errors import *  # noqa: F401,F403  (every typed error is public)
from smtpx.events import *  # noqa: F401,F403

# Silent unless the application configures logging (docs/logging.md).
_logging.getLogger("smtpx").addHandler(_logging.NullHandler())

__all__ = [
    "__version__",
    "AuthMechanism",
    "CertStoreType",
    "Direction",
    "FirewallType",
    "Importance",
    "Priority",
    "RecipientType",
    "Sensitivity",
    "SSLProvider",
    "SSLStartMode",
]


if TYPE_CHECKING:  # what the lazy names below are, for type checkers ("X as X": re-exported)
    from smtpx.engine import RecipientResult as RecipientResult, SendResult as SendResult
    from smtpx.facade.smtp import SMTP as SMTP
    from smtpx.pool.sync import SMTPPool as SMTPPool
    from smtpx.queue.files import QueueRun as QueueRun
    from smtpx.tls.certificate import Certificate as Certificate
    from smtpx.types import Firewall as Firewall, Header as Header, MessageRecipient as MessageRecipient


def __getattr__(name: str) -> Any:  # lazy, so importing the kernels alone stays cheap
    if name == "SMTP":
        from smtpx.facade.smtp import SMTP

        return SMTP
    if name == "SMTPPool":
        from smtpx.pool.sync import SMTPPool

        return SMTPPool
    if name in ("Header", "MessageRecipient", "Firewall"):
        from smtpx import types

        return getattr(types, name)
    if name == "Certificate":
        from smtpx.tls.certificate import Certificate

        return Certificate
    if name in ("SendResult", "RecipientResult"):  # what send() returns
        from smtpx import engine

        return getattr(engine, name)
    if name == "QueueRun":  # what process_queue() returns
        from smtpx.queue.files import QueueRun

        return QueueRun
    raise AttributeError(f"module 'smtpx' has no attribute {name!r}")
