"""The ESMTP client state machine. Each public operation is a generator of I/O actions; the
table below says in which states it may start and the state it leaves on success."""
from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from smtpx.engine.actions import StartTLS
from smtpx.engine.auth import authenticate as _authenticate
from smtpx.engine.capabilities import Capabilities
from smtpx.engine.channel import IO, Channel, reply_error
from smtpx.engine.commands import Command, command, raw_command
from smtpx.engine.envelope import Content, Envelope
from smtpx.engine.options import EngineOptions
from smtpx.engine.planning import PlanCache, check_requiretls
from smtpx.engine.runner import send_batch as run_batch
from smtpx.engine.runner import send_mail as run_mail
from smtpx.engine.validation import check_hello_name, check_no_controls
from smtpx.errors import (
    SMTPBusyError,
    SMTPConnectionDropped,
    SMTPInputError,
    SMTPNotConnectedError,
    SMTPNotSupportedError,
    SMTPProtocolError,
    SMTPReplyError,
    SMTPServiceClosing,
    SMTPTLSError,
)
from smtpx.kernels import Reply


@dataclass(slots=True)
class Expansion:
    """What expand() returns: the EXPN reply and the addresses it lists, one per line."""

    reply: Reply
    addresses: list[str]


class State(enum.Enum):
    CONNECTED = "connected"  # waiting for the greeting
    GREETED = "greeted"  # greeting read (or TLS just started): EHLO/HELO next
    READY = "ready"  # hello done: mail, auth, STARTTLS, queries
    CLOSED = "closed"  # 421, EOF, protocol error or QUIT: the driver drops the connection


# State.CLOSED, read per operation and by ``closed`` (which drivers ask after every method) as a
# module constant: on Python 3.11 a member read from the Enum class goes through EnumType's
# __getattr__ hook, about 800 instructions each time, several times a message.
_CLOSED = State.CLOSED

_ANY_OPEN = frozenset({State.CONNECTED, State.GREETED, State.READY})
_SESSION = frozenset({State.GREETED, State.READY})

# operation -> (states it may start in, state after success (None: unchanged))
TRANSITIONS: dict[str, tuple[frozenset[State], State | None]] = {
    "greeting": (frozenset({State.CONNECTED}), State.GREETED),
    "hello": (_SESSION, State.READY),
    "starttls": (frozenset({State.READY}), State.GREETED),
    "authenticate": (frozenset({State.READY}), None),
    "send_mail": (frozenset({State.READY}), None),
    "send_batch": (frozenset({State.READY}), None),
    "command": (_SESSION, None),
    "verify": (_SESSION, None),
    "expand": (_SESSION, None),
    "noop": (_SESSION, None),
    "rset": (_SESSION, None),
    "quit": (_ANY_OPEN | {State.CLOSED}, State.CLOSED),  # a no-op once closed
}

# Operations that may run in plaintext when TLS is required (everything else would leak).
_PLAINTEXT_OK = {"greeting", "hello", "starttls", "quit"}


def _operation(name: str) -> Callable[[Callable[..., IO]], Callable[..., IO]]:
    allowed_states, after = TRANSITIONS[name]
    # A tuple for the check: ``in`` a tuple compares by identity, where a frozenset of enum
    # members calls Enum.__hash__ (Python code) on every operation.
    allowed = tuple(sorted(allowed_states, key=lambda state: state.value))

    def decorate(body: Callable[..., IO]) -> Callable[..., IO]:
        @functools.wraps(body)
        def run(self: Engine, *args: Any, **kwargs: Any) -> IO:
            self._begin(name, allowed)
            try:
                result = yield from body(self, *args, **kwargs)
            finally:
                self._busy = None
            if after is not None and not self.closed:
                self._state = after
            return result

        return run

    return decorate


class Engine:
    """Sans-IO ESMTP client. See the package docstring for the driver protocol."""

    def __init__(self, options: EngineOptions | None = None, sink: Any = None) -> None:
        self.options = options if options is not None else EngineOptions()
        self.sink = sink if sink is not None else NullSink()
        self.capabilities = Capabilities()
        self.authenticated = False
        self._tls_active = False
        self._state = State.CONNECTED
        self._busy: str | None = None
        self._channel = Channel(self.options, self.sink)
        self._plans = PlanCache()  # the last envelope's plan, for the next message to it

    # -- state ----------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return _CLOSED if self._channel.closed else self._state

    @property
    def closed(self) -> bool:
        # self.state is State.CLOSED, without the second property (drivers ask after each method)
        return self._channel.closed or self._state is _CLOSED

    @property
    def tls_active(self) -> bool:
        return self._tls_active

    @tls_active.setter
    def tls_active(self, value: bool) -> None:
        """Set by the driver for implicit TLS (port 465); STARTTLS sets it itself."""
        self._tls_active = bool(value)

    @property
    def last_reply(self) -> Reply | None:
        return self._channel.last_reply

    def unsolicited(self, data: bytes) -> None:
        """For drivers that can see bytes arrive while no operation runs (a poll before the
        next command): always raises (SMTPServiceClosing for a 421, else SMTPProtocolError),
        and the session is closed. The engine itself only reads while replies are due."""
        if data:
            self._channel.begin_operation()
            self._channel.idle_data(data)

    def _begin(self, name: str, allowed: tuple[State, ...]) -> None:
        if self._busy is not None:
            raise SMTPBusyError(f"{name}() started while {self._busy}() is still running")
        state = _CLOSED if self._channel.closed else self._state  # self.state, without the call
        if state is _CLOSED and state not in allowed:
            raise SMTPNotConnectedError(f"{name}(): the session is closed")
        if state not in allowed:
            needed = " or ".join(sorted(s.value for s in allowed))
            raise SMTPInputError(f"{name}() is not possible now: the session is {state.value}, it must be {needed}")
        if self.options.tls_required and not self._tls_active and name not in _PLAINTEXT_OK:
            self._close()
            raise SMTPTLSError(f"TLS is required and not active: {name}() refused; nothing was sent")
        self._busy = name
        self._channel.begin_operation()

    def _close(self) -> None:
        self._channel.closed = True

    # -- operations -----------------------------------------------------------------------------

    @_operation("greeting")
    def greeting(self) -> IO:
        reply: Reply = yield from self._channel.read_reply("connecting (greeting)")
        self._channel.check_no_leftover("after the greeting")
        if reply.code == 220:
            return reply
        if 400 <= reply.code < 600:
            # 554: no service here; the session stays open for QUIT (RFC 5321 3.1).
            raise reply_error(SMTPReplyError, "the server refused the connection", reply)
        self._close()
        raise reply_error(SMTPProtocolError, "the greeting is not 220", reply)

    @_operation("hello")
    def hello(self, name: str) -> IO:
        check_hello_name(name)
        channel = self._channel
        self.capabilities = Capabilities()
        channel.dirty = False  # EHLO/HELO resets the server's transaction state (RFC 5321 4.1.4)
        if self.options.allow_extensions:
            yield from channel.send([command(f"EHLO {name}")])
            reply: Reply = yield from channel.read_reply("EHLO")
            if 200 <= reply.code < 300:
                channel.check_no_leftover("after EHLO")
                self.capabilities = Capabilities.from_ehlo(reply.lines)
                return reply
            if not 500 <= reply.code < 600:
                raise reply_error(SMTPReplyError, "the server refused EHLO", reply)
            # 5xx: an old server without ESMTP; HELO gives a session without extensions.
        return (yield from self._simple("HELO", command(f"HELO {name}")))

    @_operation("starttls")
    def starttls(self) -> IO:
        channel = self._channel
        required = self.options.tls_required
        if self._tls_active:
            raise SMTPTLSError("TLS is already active")
        if not self.capabilities.has("STARTTLS"):
            if required:
                self._close()
            raise SMTPTLSError("the server does not offer STARTTLS; nothing was sent")
        yield from channel.send([command("STARTTLS")])
        reply: Reply = yield from channel.read_reply("STARTTLS")
        if reply.code != 220:
            if required:
                self._close()
            raise reply_error(SMTPTLSError, "the server refused STARTTLS", reply)
        if channel.has_leftover:
            # Anything sent before the handshake would be read as if it came over TLS.
            self._close()
            raise SMTPTLSError("the server sent data after its 220 to STARTTLS (response injection); TLS abandoned")
        try:
            yield StartTLS()
        except BaseException:
            self._close()
            raise
        self._tls_active = True
        self.capabilities = Capabilities()  # learnt in plaintext: not to be trusted
        channel.reset_scanner()
        return None

    @_operation("authenticate")
    def authenticate(self, mechanism: Any) -> IO:
        reply = yield from _authenticate(self._channel, self.options, self.capabilities, self._tls_active, mechanism)
        self.authenticated = True
        return reply

    @_operation("send_mail")
    def send_mail(self, envelope: Envelope, content: Content, meanwhile: Callable[[], object] | None = None) -> IO:
        """One message: its SendResult, or its error raised (see smtpx.engine.runner).
        ``meanwhile`` is called once, when the end of data has gone out and its reply is the
        next thing read: the caller's work for the server's turn (it must not raise)."""
        check_requiretls(self.options, self.capabilities, self._tls_active)
        return run_mail(self._channel, self.options, self.capabilities, self.sink, envelope, content, self._plans,
                        meanwhile)

    @_operation("send_batch")
    def send_batch(self, items: Iterable[tuple[Envelope, Content]], *,
                   window: int = 32) -> IO:
        """Many messages, pipelined across transactions; returns one SendResult or per-message
        SMTPError per item, in order. A session failure raises with .results and .unsent
        (see smtpx.engine.runner)."""
        check_requiretls(self.options, self.capabilities, self._tls_active)
        return run_batch(self._channel, self.options, self.capabilities, self.sink, items, window, self._plans)

    @_operation("command")
    def command(self, line: str) -> IO:
        """A raw command; the reply is returned whatever its code (a 421 still ends the session)."""
        cmd = raw_command(line)
        yield from self._channel.send([cmd])
        verb = line.split(" ", 1)[0].upper()
        reply = yield from self._channel.read_reply(line.split(" ", 1)[0])
        if verb == "RSET" and 200 <= reply.code < 300:
            self._channel.dirty = False
        self._channel.check_no_leftover(f"after {cmd.trace.split(' ', 1)[0]}")
        return reply

    @_operation("verify")
    def verify(self, address: str) -> IO:
        reply = yield from self._query("VRFY", address)
        return reply

    @_operation("expand")
    def expand(self, address: str) -> IO:
        """EXPN: the reply, and the addresses it lists (one per line)."""
        reply: Reply = yield from self._query("EXPN", address)
        return Expansion(reply, list(reply.lines))

    @_operation("noop")
    def noop(self) -> IO:
        return (yield from self._simple("NOOP"))

    @_operation("rset")
    def rset(self) -> IO:
        reply = yield from self._simple("RSET")
        self._channel.dirty = False
        return reply

    @_operation("quit")
    def quit(self) -> IO:
        """QUIT; the reply, or None when the server closed first. The session is closed after."""
        channel = self._channel
        if self.closed:
            return None
        try:
            yield from channel.send([command("QUIT")], check_leftover=False)
            reply = yield from channel.read_reply("QUIT")
        except SMTPServiceClosing:
            reply = channel.last_reply  # the 421 itself
        except (SMTPConnectionDropped, SMTPProtocolError):
            reply = None
        finally:
            self._close()
        return reply

    # -- helpers ----------------------------------------------------------------------------------

    def _query(self, verb: str, argument: str) -> IO:
        check_no_controls(argument, f"the {verb} argument")
        if not argument.strip():
            raise SMTPInputError(f"{verb} needs an argument")
        utf8 = not argument.isascii()
        if utf8 and not self.capabilities.has("SMTPUTF8"):
            raise SMTPNotSupportedError(f"{verb} of a non-ASCII name needs the server's SMTPUTF8; nothing was sent")
        line = f"{verb} {argument} SMTPUTF8" if utf8 else f"{verb} {argument}"
        return (yield from self._simple(verb, command(line, utf8=utf8)))

    def _simple(self, verb: str, cmd: Command | None = None) -> IO:
        """One command (``verb`` alone unless ``cmd`` is given) whose reply must be 2xx; a
        refusal leaves the session usable."""
        yield from self._channel.send([cmd if cmd is not None else command(verb)])
        reply: Reply = yield from self._channel.read_reply(verb)
        if not 200 <= reply.code < 300:
            raise reply_error(SMTPReplyError, f"the server refused {verb}", reply)
        self._channel.check_no_leftover(f"after {verb}")
        return reply


class NullSink:
    """A sink that ignores everything (for drivers that want no events)."""

    pi_trail_enabled = False  # optional on any sink: False skips formatting trace lines
    transfer_enabled = False  # optional on any sink: False lets the batch lane skip transfer events

    def pi_trail(self, direction: int, message: str) -> None: ...
    def start_transfer(self) -> None: ...
    def transfer(self, bytes_transferred: int, percent_done: int, text: bytes) -> None: ...
    def end_transfer(self) -> None: ...
    def error(self, code: int, description: str) -> None: ...
