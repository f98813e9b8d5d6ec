"""smtpx through Python's ``logging`` (docs/logging.md): what each facade event becomes as a
log record, on a child logger per connection.

The facades call in here at the points where they fire their events (the trace beside
on_pi_trail, the connection status beside on_connection_status, on_error...), so an event and
its record always say the same thing; the trace text is the very string on_pi_trail gets,
masked once by the engine.

Names: ``smtpx.connection.<n>`` for the n-th connection attempt of the process (one counter
for every SMTP and AsyncSMTP object), ``smtpx.pool.<p>.connection.<n>`` for the connections
of the p-th pool. Those children are not registered with ``logging.getLogger``: logging keeps
every registered logger for ever, and a process that opens a million connections must not
keep a million loggers. Each child takes its level from its registered ancestor
(``smtpx.connection`` or ``smtpx.pool``), so levels are set there (or on ``smtpx``).

Cost when nobody listens: one ``isEnabledFor`` per record that would be made, and none of the
text; the per-message trace is not even formatted (EventSink.pi_trail_enabled).
"""
from __future__ import annotations

import ipaddress
import itertools
import logging
import re
from typing import Any

from smtpx.engine.tracing import describe_reply
from smtpx.errors import SMTPBusyError, SMTPError, SMTPInputError, SMTPNotConnectedError

__all__ = ["CONNECTIONS", "POOLS", "ConnectionLog", "pool_logger"]

DEBUG, INFO, WARNING = logging.DEBUG, logging.INFO, logging.WARNING

CONNECTIONS = logging.getLogger("smtpx.connection")
POOLS = logging.getLogger("smtpx.pool")

# next() on itertools.count is atomic under the GIL: numbers stay unique across threads.
_connection_numbers = itertools.count(1)
_pool_numbers = itertools.count(1)

# pi_trail's directions (0 client, 1 server, 2 a note from smtpx), as the CLI's trace marks them.
_MARKS = ("C:", "S:", "*")

# Errors that are the caller's own mistake (bad input, a method called at the wrong time):
# raised, never logged; nothing happened on the wire.
_NOT_LOGGED = (SMTPInputError, SMTPBusyError, SMTPNotConnectedError)

_CONNECTED_TO = re.compile(r"Connected to (\[[^\]]+\]|[^\s:\[]+):\d+")


class _Child(logging.Logger):
    """A logger under ``parent`` that logging's manager does not keep (see the module doc). Its
    level is its parent's: ``isEnabledFor`` asks the parent, whose cache logging clears when
    any level changes (a child's own cache would not be)."""

    def __init__(self, name: str, parent: logging.Logger) -> None:
        super().__init__(name)
        self.parent = parent

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
        parent = self.parent
        assert parent is not None
        return parent.isEnabledFor(level)


def pool_logger() -> logging.Logger:
    """A new pool's logger, ``smtpx.pool.<p>``: the parent of its connections' loggers."""
    return _Child(f"{POOLS.name}.{next(_pool_numbers)}", POOLS)


class ConnectionLog:
    """One connection's logger, and the fields every record of it carries as attributes:
    ``smtpx_server``, ``smtpx_port``, ``smtpx_connection`` (its number)."""

    __slots__ = ("logger", "levels", "extra", "mechanism")

    def __init__(self, parent: logging.Logger, server: str, port: int, number: int | None = None) -> None:
        """A new connection under ``parent`` (CONNECTIONS, or a pool's logger); ``number`` 0
        is the placeholder of an object that has not connected yet (it logs on ``parent``)."""
        if number is None:
            number = next(_connection_numbers)
        self.logger: logging.Logger = _Child(f"{parent.name}.{number}", parent) if number else parent
        # The registered ancestor that holds the level: one isEnabledFor call on the hot path.
        levels = parent
        while isinstance(levels, _Child) and levels.parent is not None:
            levels = levels.parent
        self.levels: logging.Logger = levels
        self.extra: dict[str, Any] = {"smtpx_server": server, "smtpx_port": port, "smtpx_connection": number}
        self.mechanism = ""  # the SASL mechanism this connection authenticates with (watch_auth)

    def _log(self, level: int, message: str, *args: Any, **fields: Any) -> None:
        extra = {**self.extra, **fields} if fields else self.extra
        self.logger.log(level, message, *args, extra=extra)

    # ------------------------------------------------------------------------- DEBUG
    def trace(self, direction: int, message: str) -> None:
        """One pi_trail line (already masked by the engine), as on_pi_trail got it."""
        if self.logger.isEnabledFor(DEBUG):
            mark = _MARKS[direction] if 0 <= direction < len(_MARKS) else "?"
            self._log(DEBUG, "%s %s", mark, message, smtpx_direction=direction)

    def ssl_status(self, message: str) -> None:
        """TLS handshake progress (on_ssl_status): the summary is at INFO (tls())."""
        if self.logger.isEnabledFor(DEBUG):
            self._log(DEBUG, "TLS: %s", message)

    # ------------------------------------------------------------------------- INFO
    def watch_auth(self, settings: Any) -> None:
        """Note the mechanism's name when the session makes it (the settings hold a factory),
        for the AUTH record: its name, never its credentials."""
        factory = settings.mechanism
        if factory is None:
            return

        def mechanism(*offer: Any) -> Any:
            made = factory(*offer)
            self.mechanism = str(made.name)
            return made

        settings.mechanism = mechanism

    def opened(self, session: Any) -> None:
        """After the opening sequence: AUTH accepted (a refusal is the error the method
        raises, logged by failed())."""
        if self.mechanism and session.alive and getattr(session.engine, "authenticated", False):
            self.authenticated(self.mechanism)

    def authenticated(self, mechanism: str) -> None:
        """AUTH ``mechanism`` accepted (also for an AUTH run after the opening sequence)."""
        if self.logger.isEnabledFor(INFO):
            self._log(INFO, "AUTH %s accepted", mechanism, smtpx_auth=mechanism)

    def connecting(self, session: Any) -> None:
        """A connection attempt begins: the server, and how TLS will start (the effective
        SSLStartMode: implicit, explicit (STARTTLS) or none)."""
        if self.logger.isEnabledFor(INFO):
            mode = getattr(session.mode, "name", str(session.mode)).lower()
            self._log(INFO, "connecting to %s:%s (TLS: %s)", self.extra["smtpx_server"], self.extra["smtpx_port"],
                      mode)

    def status(self, event: str, description: str, session: Any) -> None:
        """on_connection_status: connected (which address, which family, through which
        firewall), TLS established (what was negotiated and the certificate's verdict),
        disconnected."""
        logger = self.logger
        if not logger.isEnabledFor(INFO):
            return
        if event == "SSL handshake complete":
            self.tls(getattr(session, "tls_info", None))
        elif event == "Remote host disconnected":
            self._log(INFO, "disconnected")
        else:  # the transport's legs: "Connected to 192.0.2.1:25", "Connected to SOCKS5 firewall at ..."
            family = _address_family(description)
            self._log(INFO, "%s%s", description, f" ({family})" if family else "", smtpx_family=family)

    def tls(self, info: Any) -> None:
        if info is None:
            self._log(INFO, "TLS established")
            return
        resumed = ", session resumed" if getattr(info, "session_reused", False) else ""
        self._log(INFO, "TLS established: %s, %s (%s bits), server certificate %s (accepted by %s)%s",
                  info.version, info.cipher, info.cipher_strength, info.verify_status, info.accepted_by, resumed,
                  smtpx_tls_version=info.version, smtpx_tls_cipher=info.cipher,
                  smtpx_tls_verify=info.verify_status)

    # ------------------------------------------------------------------------- WARNING
    def error(self, code: int, description: str) -> None:
        """on_error: a refused recipient while others are accepted, a per-message error of a
        batch, a queue file parked as failed, the server closing an idle connection."""
        if self.logger.isEnabledFor(WARNING):
            self._log(WARNING, "%s", description, smtpx_code=code)

    def message_error(self, error: SMTPError) -> None:
        """One message of a batch that was not sent (on_error too), with its refused recipients."""
        if self.logger.isEnabledFor(WARNING):
            self._log(WARNING, "message not sent: %s%s", error.description, _refused(error), smtpx_code=error.code)

    def failed(self, error: BaseException) -> None:
        """An SMTPError a method raises (a refused message, a failed connect, TLS or AUTH, a
        lost connection); the caller gets the error too. Not the caller's own mistakes."""
        if not isinstance(error, SMTPError) or isinstance(error, _NOT_LOGGED):
            return
        if self.logger.isEnabledFor(WARNING):
            self._log(WARNING, "%s: %s%s", type(error).__name__, error.description, _refused(error),
                      smtpx_code=error.code)


def _refused(error: SMTPError) -> str:
    """"; refused: a@x (550 ...), b@y (...)" for an error that carries a SendResult."""
    result = getattr(error, "result", None)
    refused = getattr(result, "refused", None)
    if not refused:
        return ""
    return "; refused: " + ", ".join(f"{r.address} ({_reply(r.reply)})" for r in refused)


def _reply(reply: Any) -> str:
    return "no reply" if reply is None else describe_reply(reply)


def _address_family(description: str) -> str:
    """"IPv4" / "IPv6" for "Connected to <address>:<port> ..." when the address is an IP
    address (through a firewall that resolves the name: unknown, "")."""
    match = _CONNECTED_TO.search(description)
    if match is None:
        return ""
    try:
        return f"IPv{ipaddress.ip_address(match.group(1).strip('[]')).version}"
    except ValueError:
        return ""
