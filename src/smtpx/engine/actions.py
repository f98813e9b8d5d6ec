"""The I/O actions an engine generator yields; the driver performs each one and sends back
its result (None for Write and StartTLS, the bytes read for Read)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Write:
    """Write all of ``data`` to the peer. Result: None."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Read:
    """Read what is available (at least one byte, blocking). Result: bytes; b"" means EOF."""


@dataclass(frozen=True, slots=True)
class StartTLS:
    """Perform the TLS handshake on the stream now. Result: None (raise on failure)."""


Action = Write | Read | StartTLS
