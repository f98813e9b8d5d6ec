"""The I/O actions an engine generator yields; the driver performs each one and sends back
its result (None for Write and StartTLS, the bytes read for Read).

A Write the driver cannot finish (the connection drops, a timeout, an interrupt) is reported
by throwing the error into the generator at that Write. The error may carry
``bytes_written``: how many bytes of that Write may have gone out before it failed (the bytes
after them certainly did not); without it, none did. The engine decides from it whether a
message's end of data went out (delivery unknown) or not (not delivered): see bytes_written().
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True, slots=True, init=False)
class Write:
    """Write all of ``data`` to the peer. Result: None once all of it is written; when it
    cannot be, the driver throws the error in (with ``bytes_written``, see the module doc)."""

    data: bytes

    def __init__(self, data: bytes) -> None:
        # Written out, not generated: compiled (smtpx.compiled.HOT_PATH) it is C, and the
        # engine makes one or two Writes a message. The class is frozen, so the slot is set
        # through its descriptor: object.__setattr__ would cost about a thousand instructions.
        _set_write_data(self, data)


_set_write_data: Callable[[Write, bytes], None] = vars(Write)["data"].__set__  # the slot's member descriptor


class WriteParts(Write):
    """``Write(b"".join(parts))`` without the join: a big content and the commands around it
    go out as they are (a driver may hand them to the kernel as one vector, sendmsg). Its
    ``data`` is the joined bytes, made when asked, so a driver or test peer that knows only
    Write still works; ``bytes_written`` counts in the joined bytes."""

    __slots__ = ("parts",)
    parts: tuple[bytes, ...]

    def __init__(self, parts: tuple[bytes, ...]) -> None:  # (not a dataclass __init__: no data)
        object.__setattr__(self, "parts", parts)

    @property  # the joined bytes, in place of Write's field
    def data(self) -> bytes:
        return b"".join(self.parts)


# Read.reply: how much of the reply being waited for has already arrived. The engine has no
# clock; this lets a driver time one whole reply (MaxReplyTime) from its first byte.
REPLY_NOT_BEGUN = 0  # none of it: the timeout alone governs the wait
REPLY_BEGUN_IN_LAST_READ = 1  # its first bytes came with the previous Read's data
REPLY_BEGUN_EARLIER = 2  # it began before that, and is still unfinished


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


Action = Write | Read | StartTLS  # (WriteParts is a Write)


def bytes_written(error: BaseException) -> int:
    """How many bytes of a failed Write may have gone out: the ``bytes_written`` the driver put
    on the error it threw in (an int >= 0), else 0 (nothing went out)."""
    value: Any = getattr(error, "bytes_written", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value
