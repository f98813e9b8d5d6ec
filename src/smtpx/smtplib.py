"""``smtpx.smtplib``: the standard library's ``smtplib`` API over smtpx's engine.

A program written against smtplib runs with ``import smtpx.smtplib as smtplib`` and sends
through smtpx (pipelined MAIL / RCPT / DATA, the C kernels, strict input checks). The design
and every difference from smtplib are in docs/smtplib.md; in short:

- each ``SMTP`` object drives one ``smtpx.SMTP`` (the facade). ``connect()`` opens a real
  smtpx connection, whose opening sequence reads the greeting and sends EHLO at once; that
  EHLO reply is kept and handed to the program's next ``ehlo()`` (or to the
  ``ehlo_or_helo_if_needed()`` of ``sendmail`` / ``login`` / ``starttls``), so the server sees
  the commands in smtplib's order without an extra round trip. ``starttls()`` likewise sends
  the EHLO that RFC 3207 requires at once and keeps its reply for the next ``ehlo()``;
- replies are smtplib's ``(code, message bytes)``; the exceptions are the standard library's
  own classes (re-exported here), raised with smtplib's arguments and attributes
  (``smtp_code``, ``smtp_error``, ``recipients``, ``sender``), chained (``__cause__``) to the
  smtpx error that has the detail; smtpx errors that already are smtplib's classes
  (SMTPServerDisconnected, SMTPAuthenticationError, SMTPNotSupportedError) go through as they are;
- as smtpx does everywhere: no password in clear over a connection without TLS (PLAIN and
  LOGIN need TLS, CRAM-MD5 does not; ``config={"AllowPlaintextAuth": True}`` allows it), the
  server certificate is verified when no ``context`` is given, bad input (a bad address, a
  non-ASCII ``str`` message) raises SMTPInputError (a ValueError) before anything is sent.
"""
from __future__ import annotations

import datetime
import email.policy
import math
import re
import socket
import ssl
import sys
from collections.abc import Mapping, Sequence
from email.message import Message
from smtplib import (
    SMTPAuthenticationError,
    SMTPConnectError,
    SMTPDataError,
    SMTPException,
    SMTPHeloError,
    SMTPNotSupportedError,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPSenderRefused,
    SMTPServerDisconnected,
    quoteaddr,
    quotedata,
)
from typing import Any

import smtpx
from smtpx import errors
from smtpx.enums import AuthMechanism, SSLStartMode
from smtpx.events import PITrailEvent
from smtpx.kernels import Reply
from smtpx.message.addresses import parse_mailbox
from smtpx.message.email_message import prepare_email_message
from smtpx.session.settings import local_name

__all__ = ["SMTPException", "SMTPNotSupportedError", "SMTPServerDisconnected", "SMTPResponseException",
           "SMTPSenderRefused", "SMTPRecipientsRefused", "SMTPDataError", "SMTPConnectError", "SMTPHeloError",
           "SMTPAuthenticationError", "quoteaddr", "quotedata", "SMTP", "SMTP_SSL", "LMTP",
           "SMTP_PORT", "SMTP_SSL_PORT", "LMTP_PORT", "CRLF", "bCRLF"]

SMTP_PORT = 25
SMTP_SSL_PORT = 465
LMTP_PORT = 2003
CRLF = "\r\n"
bCRLF = b"\r\n"

# smtplib's rule: the message goes to the recipients the server accepted; only when it refuses
# them all is the send an error (smtpx's default stops at a refused To). config= may change it.
_SMTPLIB_DEFAULTS: dict[str, Any] = {"StopOnToErrors": False, "StopOnCcErrors": False, "StopOnBccErrors": False}
# smtplib's login(): the first of these the server offers, the next one after a failure.
_AUTH_PREFERENCE = (("CRAM-MD5", AuthMechanism.CRAM_MD5), ("PLAIN", AuthMechanism.SASL_PLAIN),
                    ("LOGIN", AuthMechanism.USER_PASSWORD))
_HEADERS = email.policy.default  # its header parser, the one smtpx.message.email_message uses
_LINE_END = re.compile(r"\r\n|\n|\r(?!\n)")  # smtplib's reading of a str message's line ends
_DEFAULT_TIMEOUT: Any = socket._GLOBAL_DEFAULT_TIMEOUT  # type: ignore[attr-defined]  # smtplib's default


def _message(reply: Reply) -> bytes:
    """smtplib's reply text: the lines after their code, stripped, joined by LF, as bytes."""
    return b"\n".join(line.strip(" \t").encode("utf-8", "replace") for line in reply.lines)


def _error_message(error: errors.SMTPError) -> bytes:
    """smtplib's reply text for the reply behind an smtpx error (its description without one)."""
    if error.reply_text is None:
        return error.description.encode("utf-8", "replace")
    return b"\n".join(line.strip(" \t").encode("utf-8", "replace") for line in error.reply_text.split("\n"))


def _seconds(timeout: Any) -> int:
    """smtplib's timeout (seconds, None = none, the socket default) as smtpx's whole seconds
    (0 = none); a fraction rounds up, so a timeout never becomes "none"."""
    if timeout is _DEFAULT_TIMEOUT:
        timeout = socket.getdefaulttimeout()
    if timeout is None:
        return 0
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0 or math.isnan(timeout):
        raise errors.SMTPInputError(f"timeout must be a positive number of seconds or None, not {timeout!r}")
    return max(1, math.ceil(timeout))


def _features(ehlo_message: bytes) -> dict[str, str]:
    """smtplib's esmtp_features from an EHLO reply: keyword (lower case) -> parameters; AUTH
    lines (also the old "AUTH=..." form) gathered into one "auth" entry."""
    features: dict[str, str] = {}
    for line in ehlo_message.decode("latin-1").split("\n")[1:]:
        keyword, _, params = line.partition(" ")
        if keyword[:5].upper() == "AUTH=":  # the pre-RFC 2554 form
            features["auth"] = features.get("auth", "") + " " + (keyword[5:] + " " + params).strip()
            continue
        name = keyword.lower()
        if not name or not name[0].isalnum() or not all(c.isalnum() or c == "-" for c in name) or not name.isascii():
            continue
        if name == "auth":
            features["auth"] = features.get("auth", "") + " " + params.strip()
        else:
            features[name] = params.strip()
    return features


def _smtplib_order(msg: Message, recipients: list[str]) -> list[str]:
    """smtpx's send_message recipients (To, Cc, Bcc) in smtplib's RCPT order: To, Bcc, Cc."""
    prefix = "Resent-" if msg.get_all("Resent-Date") else ""  # smtpx refused more than one block

    def count(name: str) -> int:
        value = msg.get(prefix + name)
        return 0 if value is None else len(getattr(_HEADERS.header_factory(name, str(value)), "addresses", ()))

    to, cc = count("To"), count("Cc")
    return recipients[:to] + recipients[to + cc:] + recipients[to:to + cc]


class SMTP:
    """smtplib.SMTP over smtpx: ``SMTP(host, port)`` connects and reads the greeting; the other
    steps (ehlo, starttls, login, sendmail...) are explicit, as with smtplib. Extra keyword:
    ``config`` (smtpx config settings for the connection, e.g. ``{"SSLServerCACerts": pem}``)."""

    default_port = SMTP_PORT
    debuglevel = 0
    does_esmtp = False
    ehlo_msg = "ehlo"
    command_encoding = "ascii"
    _implicit_tls = False

    def __init__(self, host: str = "", port: int = 0, local_hostname: str | None = None,
                 timeout: float | None = _DEFAULT_TIMEOUT, source_address: tuple[str, int] | None = None, *,
                 config: Mapping[str, Any] | None = None) -> None:
        self._host = host
        self.timeout = timeout
        self.esmtp_features: dict[str, str] = {}
        self.helo_resp: bytes | None = None
        self.ehlo_resp: bytes | None = None
        self.source_address = source_address
        self.local_hostname = local_hostname
        self._given_hostname = local_hostname
        self._context: ssl.SSLContext | None = None
        self._client = smtpx.SMTP(config={**_SMTPLIB_DEFAULTS, **(config or {})})
        # A send never opens a connection of its own (see _send): a close that comes after
        # the look below raises SMTPServerDisconnected from send_raw too.
        self._client._connects_to_send = False
        # The EHLO reply smtpx got during connect() or starttls(), not yet handed to ehlo().
        self._held: Reply | None = None
        self._init_tls()
        if host:
            code, message = self.connect(host, port)
            if code != 220:
                self.close()
                raise SMTPConnectError(code, message)

    def _init_tls(self) -> None:
        """SMTP_SSL sets its context here (before connecting)."""

    # ============================================================================== context
    def __enter__(self) -> SMTP:
        return self

    def __exit__(self, *args: object) -> None:
        try:
            code, message = self.docmd("QUIT")
            if code != 221:
                raise SMTPResponseException(code, message)
        except SMTPServerDisconnected:
            pass
        finally:
            self.close()

    # ============================================================================== debug
    def set_debuglevel(self, debuglevel: int) -> None:
        """1: the conversation on stderr (passwords masked, as smtpx's on_pi_trail shows it);
        2: with a timestamp on each line."""
        self.debuglevel = debuglevel
        self._client.on_pi_trail = self._trace if debuglevel else None

    def _print_debug(self, *args: object) -> None:
        if self.debuglevel > 1:
            print(datetime.datetime.now().time(), *args, file=sys.stderr)
        else:
            print(*args, file=sys.stderr)

    def _trace(self, event: PITrailEvent) -> None:
        label = ("send:", "reply:", "info:")[event.direction] if event.direction in (0, 1, 2) else "info:"
        self._print_debug(label, repr(event.message))

    # ============================================================================== connection
    def connect(self, host: str = "localhost", port: int = 0,
                source_address: tuple[str, int] | None = None) -> tuple[int, bytes]:
        """Connect and read the greeting: its (code, message). smtpx sends EHLO at once too;
        the program's ehlo() gets its reply (module docstring)."""
        if source_address:
            self.source_address = source_address
        if not port and host.find(":") == host.rfind(":"):
            name, colon, number = host.rpartition(":")
            if colon:
                host = name
                try:
                    port = int(number)
                except ValueError:
                    raise OSError("nonnumeric port") from None
        if not port:
            port = self.default_port
        sys.audit("smtplib.connect", self, host, port)
        if self.debuglevel > 0:
            self._print_debug("connect:", (host, port))
        client = self._client
        if client.connected:
            client.disconnect(quit=False)
        self._reset_hello()
        self._host = host
        client.mail_server = host
        client.mail_port = port
        client.timeout = _seconds(self.timeout)
        client.ssl_start_mode = SSLStartMode.IMPLICIT if self._implicit_tls else SSLStartMode.NONE
        client.ssl_context = self._context
        client.config(f"Hello={self._given_hostname or ''}")
        client.local_host = self.source_address[0] if self.source_address else ""
        client.config(f"LocalPort={self.source_address[1] if self.source_address else 0}")
        try:
            client.connect()
        except errors.SMTPServiceClosing as exc:  # a 421 greeting: smtplib returns it
            return exc.smtp_code, _error_message(exc)
        except errors.SMTPReplyError as exc:  # a 554 greeting (or EHLO refused with 4xx)
            return exc.smtp_code, _error_message(exc)
        greeting, self._held = client.server_greeting, client.hello_reply
        if self.local_hostname is None:
            self.local_hostname = local_name((client.local_host, 0))
        assert greeting is not None
        message = _message(greeting)
        if self.debuglevel > 0:
            self._print_debug("connect:", message)
        return greeting.code, message

    def close(self) -> None:
        """Close the connection without QUIT (as smtplib's close())."""
        self._client.disconnect(quit=False)
        self._held = None

    def quit(self) -> tuple[int, bytes]:
        """QUIT, then close; the reply to QUIT."""
        result = self.docmd("QUIT")
        self._reset_hello()
        self.close()
        return result

    def _reset_hello(self) -> None:
        self.ehlo_resp = self.helo_resp = None
        self.esmtp_features = {}
        self.does_esmtp = False
        self._held = None

    def _connected(self) -> smtpx.SMTP:
        if not self._client.connected:
            raise SMTPServerDisconnected("please run connect() first")
        return self._client

    # ============================================================================== hello
    def ehlo(self, name: str = "") -> tuple[int, bytes]:
        """EHLO: (code, message); what the server offers goes to esmtp_features."""
        self.esmtp_features = {}
        client = self._connected()
        held, self._held = self._held, None
        if held is not None and (not name or name == self.local_hostname):
            reply = held  # smtpx sent this EHLO during connect() / starttls()
        else:
            try:
                reply = client.hello(name or self.local_hostname or "")
            except errors.SMTPReplyError as exc:
                self.ehlo_resp = _error_message(exc)
                return exc.smtp_code, self.ehlo_resp
        self.ehlo_resp = _message(reply)
        if reply.code != 250:
            return reply.code, self.ehlo_resp
        self.does_esmtp = True
        self.esmtp_features = _features(self.ehlo_resp)
        return reply.code, self.ehlo_resp

    def helo(self, name: str = "") -> tuple[int, bytes]:
        """HELO: (code, message)."""
        client = self._connected()
        self._held = None
        try:
            reply = client.hello(name or self.local_hostname or "", helo=True)
        except errors.SMTPReplyError as exc:
            self.helo_resp = _error_message(exc)
            return exc.smtp_code, self.helo_resp
        self.helo_resp = _message(reply)
        return reply.code, self.helo_resp

    def ehlo_or_helo_if_needed(self) -> None:
        """EHLO (HELO when it fails) unless the program has done one; SMTPHeloError when both fail."""
        if self.helo_resp is None and self.ehlo_resp is None:
            if not 200 <= self.ehlo()[0] <= 299:
                code, message = self.helo()
                if not 200 <= code <= 299:
                    raise SMTPHeloError(code, message)

    def has_extn(self, opt: str) -> bool:
        """Whether the last EHLO offered the extension ``opt``."""
        return opt.lower() in self.esmtp_features

    # ============================================================================== commands
    def docmd(self, cmd: str, args: str = "") -> tuple[int, bytes]:
        """Send one command line; its reply, whatever the code."""
        client = self._connected()
        try:
            reply = client.send_command(f"{cmd} {args}" if args else cmd)
        except errors.SMTPServiceClosing as exc:  # a 421: returned, as smtplib; smtpx has closed
            return exc.smtp_code, _error_message(exc)
        return reply.code, _message(reply)

    def noop(self) -> tuple[int, bytes]:
        return self.docmd("NOOP")

    def rset(self) -> tuple[int, bytes]:
        return self.docmd("RSET")

    def starttls(self, *, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
        """STARTTLS and the handshake (with ``context``; without one, smtpx's verifying
        context, unlike smtplib's unverified one). The EHLO that must follow is sent at once
        and its reply kept for the next ehlo()."""
        self.ehlo_or_helo_if_needed()
        if not self.has_extn("starttls"):
            raise SMTPNotSupportedError("STARTTLS extension not supported by server.")
        client = self._connected()
        if context is not None:
            self._context = context
        client.ssl_context = self._context
        try:
            reply = client.starttls()
        except errors.SMTPTLSError as exc:
            if exc.reply_code is not None:  # refused with a reply (the connection is dropped)
                raise SMTPResponseException(exc.reply_code, _error_message(exc)) from exc
            raise
        self._reset_hello()
        self._held = client.hello_reply
        client.ssl_start_mode = SSLStartMode.EXPLICIT  # never a plaintext connection again for this one
        return reply.code, _message(reply)

    def login(self, user: str, password: str, *, initial_response_ok: bool = True) -> tuple[int, bytes]:
        """AUTH with the first of CRAM-MD5, PLAIN and LOGIN the server offers (the next one after
        a failure), as smtplib. ``initial_response_ok`` is accepted; smtpx sends an initial
        response where the mechanism has one."""
        self.ehlo_or_helo_if_needed()
        if not self.has_extn("auth"):
            raise SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
        offered = self.esmtp_features["auth"].split()
        mechanisms = [mechanism for name, mechanism in _AUTH_PREFERENCE if name in offered]
        if not mechanisms:
            raise SMTPException("No suitable authentication method found.")
        client = self._connected()
        last: SMTPAuthenticationError | None = None
        try:
            for mechanism in mechanisms:
                client.user, client.password, client.auth_mechanism = user, password, mechanism
                try:
                    reply = client.authenticate()
                except SMTPAuthenticationError as exc:  # smtpx's SMTPAuthError is one
                    last = exc
                    continue
                return reply.code, _message(reply)
        finally:
            client.user = client.password = ""  # never reused by a later connect()
        assert last is not None
        raise last

    # ============================================================================== mail
    def sendmail(self, from_addr: str, to_addrs: str | Sequence[str], msg: str | bytes,
                 mail_options: Sequence[str] = (), rcpt_options: Sequence[str] = ()) -> dict[str, tuple[int, bytes]]:
        """Send ``msg`` (bytes, or an ASCII str) from ``from_addr`` to ``to_addrs``; returns the
        refused recipients as {address: (code, message)}. SMTPSenderRefused,
        SMTPRecipientsRefused (every recipient refused) and SMTPDataError as smtplib."""
        self.ehlo_or_helo_if_needed()
        if isinstance(msg, str):
            if not msg.isascii():
                raise errors.SMTPInputError("sendmail: a str message must be ASCII (smtplib encodes it as "
                                            "ASCII); pass bytes, or use send_message; nothing was sent")
            data = _LINE_END.sub("\r\n", msg).encode("ascii")  # as smtplib: SIZE= counts the CRLFs
        elif isinstance(msg, (bytes, bytearray, memoryview)):
            data = bytes(msg)
        else:
            raise errors.SMTPInputError(f"sendmail: msg must be str or bytes, not {type(msg).__name__}")
        recipients = [to_addrs] if isinstance(to_addrs, str) else list(to_addrs)
        return self._send(from_addr, from_addr, recipients, data, tuple(mail_options), tuple(rcpt_options))

    def send_message(self, msg: Message, from_addr: str | None = None, to_addrs: str | Sequence[str] | None = None,
                     mail_options: Sequence[str] = (), rcpt_options: Sequence[str] = ()) -> dict[str, tuple[int, bytes]]:
        """Send an email.message.Message / EmailMessage with smtplib's send_message rules
        (smtpx.message.email_message: envelope from the headers, Bcc stripped, CRLF line ends,
        SMTPUTF8 when needed); returns the refused recipients as sendmail does."""
        self.ehlo_or_helo_if_needed()
        prepared = prepare_email_message(msg, from_addr, to_addrs, mail_options, rcpt_options, "send_message")
        options = prepared.mail_options
        if prepared.smtputf8 and not any(option.upper() == "SMTPUTF8" for option in options):
            options += ("SMTPUTF8",)
        if to_addrs is None:
            recipients = _smtplib_order(msg, list(prepared.recipients))
        else:
            recipients = [to_addrs] if isinstance(to_addrs, str) else list(to_addrs)
        sender = prepared.mail_from if from_addr is None else from_addr
        return self._send(sender, prepared.mail_from, recipients, prepared.data, options, prepared.rcpt_options)

    def _send(self, sender: str, mail_from: str, recipients: list[str], data: bytes, mail_options: tuple[str, ...],
              rcpt_options: tuple[str, ...]) -> dict[str, tuple[int, bytes]]:
        """One transaction through smtpx's send_raw; the refused recipients keyed as the caller
        wrote them (``sender`` names the sender in SMTPSenderRefused)."""
        client = self._connected()
        # A close (or 421) that came while idle is seen here and raised, as smtplib would (one
        # that comes just after this look makes send_raw raise SMTPNotConnectedError, an
        # SMTPServerDisconnected: the client never opens a connection of its own).
        client.do_events()
        if not client.connected:
            raise SMTPServerDisconnected("Connection unexpectedly closed")
        envelope_from = mail_from if mail_from.strip() else "<>"  # "" is the null sender, as smtplib
        try:
            result = client.send_raw(envelope_from, recipients, data, mail_options=mail_options,
                                     rcpt_options=rcpt_options)
        except errors.SMTPSenderRefused as exc:
            raise SMTPSenderRefused(exc.smtp_code, _error_message(exc), sender) from exc
        except errors.SMTPRecipientsRefused as exc:
            raise SMTPRecipientsRefused(self._refused(getattr(exc, "result", None), recipients)) from exc
        except errors.SMTPDataError as exc:
            raise SMTPDataError(exc.smtp_code, _error_message(exc)) from exc
        return self._refused(result, recipients)

    @staticmethod
    def _refused(result: Any, recipients: list[str]) -> dict[str, tuple[int, bytes]]:
        """{caller's address: (code, message)} for each refused recipient of a SendResult."""
        refused = getattr(result, "refused", None) or []
        if not refused:
            return {}
        written: dict[str, str] = {}
        for address in recipients:  # smtpx reports the addr-spec: back to the caller's spelling
            written.setdefault(parse_mailbox(address, "recipient").addr_spec, address)
        return {written.get(item.address, item.address): (item.reply.code, _message(item.reply)) for item in refused}


class SMTP_SSL(SMTP):
    """smtplib.SMTP_SSL over smtpx: implicit TLS (port 465 by default) with ``context`` (or,
    without one, smtpx's verifying context)."""

    default_port = SMTP_SSL_PORT
    _implicit_tls = True

    def __init__(self, host: str = "", port: int = 0, local_hostname: str | None = None, *,
                 timeout: float | None = _DEFAULT_TIMEOUT, source_address: tuple[str, int] | None = None,
                 context: ssl.SSLContext | None = None, config: Mapping[str, Any] | None = None) -> None:
        self._ssl_context_given = context
        super().__init__(host, port, local_hostname, timeout, source_address, config=config)

    def _init_tls(self) -> None:
        self._context = self._ssl_context_given


class LMTP(SMTP):
    """Not available: smtpx's engine speaks SMTP only."""

    def __init__(self, host: str = "", port: int = LMTP_PORT, local_hostname: str | None = None,
                 source_address: tuple[str, int] | None = None, timeout: float | None = _DEFAULT_TIMEOUT) -> None:
        raise NotImplementedError(
            "smtpx.smtplib.LMTP is not implemented: smtpx's engine speaks SMTP (EHLO, one reply to the "
            "end of data), not LMTP (LHLO, one reply per recipient, Unix sockets); use the standard "
            "library's smtplib.LMTP")
