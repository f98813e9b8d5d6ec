"""The adapters between the lower layers and a facade's on_* handlers (smtpx.SMTP and
smtpx.aio.AsyncSMTP alike): what the engine calls (EventSink) and what the TLS handshake calls
(FacadeTLSHooks, an implementation of smtpx.tls.TLSHooks)."""
from __future__ import annotations

from logging import DEBUG
from typing import Any

from smtpx import events as ev
from smtpx.enums import Direction

__all__ = ["EventSink", "FacadeTLSHooks"]


class EventSink:
    """What the engine calls; turns each call into an on_* event of the facade."""

    def __init__(self, owner: Any) -> None:
        self._owner = owner

    @property
    def pi_trail_enabled(self) -> bool:
        """The engine builds trace text only when someone listens: an on_pi_trail handler, or
        DEBUG logging for this connection (one cached isEnabledFor when off; docs/logging.md)."""
        owner = self._owner
        return owner.on_pi_trail is not None or owner._log.levels.isEnabledFor(DEBUG)

    def pi_trail(self, direction: int, message: str) -> None:
        self._owner._trail(direction, message)

    @property
    def transfer_enabled(self) -> bool:
        """A transfer handler is set (the engine's batch lane skips the events otherwise)."""
        owner = self._owner
        return (owner.on_start_transfer is not None or owner.on_transfer is not None
                or owner.on_end_transfer is not None)

    # The transfer events come once or more per message: no event object without a handler.
    def start_transfer(self) -> None:
        handler = self._owner.on_start_transfer
        if handler is not None:
            handler(ev.StartTransferEvent(Direction.CLIENT))

    def transfer(self, bytes_transferred: int, percent_done: int, text: bytes) -> None:
        handler = self._owner.on_transfer
        if handler is not None:
            handler(ev.TransferEvent(Direction.CLIENT, bytes_transferred, percent_done, text))

    def end_transfer(self) -> None:
        handler = self._owner.on_end_transfer
        if handler is not None:
            handler(ev.EndTransferEvent(Direction.CLIENT))

    def error(self, code: int, description: str) -> None:
        self._owner._report_error(code, description)


class FacadeTLSHooks:
    """What the stream calls during a handshake."""

    def __init__(self, owner: Any) -> None:
        self._owner = owner

    def ssl_status(self, message: str) -> None:
        self._owner._fire("on_ssl_status", ev.SSLStatusEvent(message))
        self._owner._log.ssl_status(message)

    def ssl_server_authentication(self, event: ev.SSLServerAuthenticationEvent) -> bool:
        # accept arrives preset by verification (and by ssl_accept_server_cert, which the TLS
        # layer matches); the handler may change it, and its final value decides.
        self._owner._fire("on_ssl_server_authentication", event)
        return bool(event.accept)
