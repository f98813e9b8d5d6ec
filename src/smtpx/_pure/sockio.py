"""Reading a plain socket without waiting and without an exception (the specification of the
compiled twin smtpx._core.sockio).

A stream waiting for a reply asks the socket again and again for a short while (SpinWait)
before it sleeps. With ``socket.recv`` each look that finds nothing raises BlockingIOError,
so the stream used to ask ``poll()`` first and call ``recv()`` only when bytes were there:
two system calls for every read that gets bytes. ``recv_nowait`` is the one call: it gives
the bytes, or None when there are none yet, without raising.

``recv_nowait(fd, size)``: ``fd`` is the descriptor of a connected, non-blocking stream socket
(the stream's: smtpx.transport.stream sets it non-blocking). Returns at most ``size`` bytes
(``size`` >= 1) that have arrived, b"" once the peer has closed, or None when nothing has
arrived yet. A signal that interrupts the call is handled and the call retried (PEP 475).
Any other failure (a reset, a bad descriptor) raises OSError with its errno.
"""
from __future__ import annotations

import os

__all__ = ["recv_nowait"]


def recv_nowait(fd: int, size: int) -> bytes | None:
    if size < 1:
        raise ValueError("recv_nowait: size must be >= 1")
    try:
        return os.read(fd, size)  # (os.read retries after a signal itself)
    except BlockingIOError:
        return None
