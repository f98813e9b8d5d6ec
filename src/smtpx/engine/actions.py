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
    """Read what is available (at least one byte, blocking). Result: bytes; b"" means EOF.

    ``reply`` is one of REPLY_NOT_BEGUN, REPLY_BEGUN_IN_LAST_READ, REPLY_BEGUN_EARLIER: a
    driver that bounds one whole reply starts its deadline when the reply began (the time the
    previous Read returned) and keeps it until a Read says REPLY_NOT_BEGUN again. A driver
    without such a deadline ignores it."""

    reply: int = REPLY_NOT_BEGUN


@dataclass(frozen=True, slots=True)
class StartTLS:
    """Perform the TLS handshake on the stream now. Result: None (raise on failure)."""

# Read.reply: how much of the reply being waited for has already arrived. The engine has no
# clock; this lets a driver time one whole reply (MaxReplyTime) from its first byte.
REPLY_NOT_BEGUN = 0  # none of it: the timeout alone governs the wait
REPLY_BEGUN_IN_LAST_READ = 1  # its first bytes came with the previous Read's data
REPLY_BEGUN_EARLIER = 2  # it began before that, and is still unfinished



Action = Write | Read | StartTLS
