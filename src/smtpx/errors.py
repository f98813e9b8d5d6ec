"""Typed errors. Every error carries the reference's numeric ``code`` and a ``description``;
errors caused by a server reply also carry ``reply_code``, ``enhanced`` and ``reply_text``.

Codes (from the class reference): 118 firewall, 161 protocol error / server refusal,
162 communication error, 163 no MailServer, 164 no From, 165 no recipient, 166 busy,
201/301 timeout, 301 interrupted, 270-284 TLS, 1117 not connected, 1120 connection dropped,
10060 connect timed out, 10061 connection refused, 11001 host not found.

The errors also fit Python's own classes, so code that catches the standard exceptions (or
smtplib's) keeps working:

- bad input from the caller (SMTPInputError, SMTPConfigError, SMTPCertificateStoreError) is a
  ``ValueError``;
- a connection that cannot be made or is lost is a ``ConnectionError`` (SMTPConnectError,
  SMTPConnectionDropped, SMTPFirewallError); other I/O errors (SMTPCommunicationError) are an
  ``OSError``; a timeout is a ``TimeoutError`` (SMTPTimeoutError, and SMTPConnectTimeoutError
  for a connect that timed out);
- what the server refused or broke is an ``smtplib.SMTPException``: SMTPReplyError and its
  family are ``smtplib.SMTPResponseException`` (with ``smtp_code`` / ``smtp_error``),
  SMTPRecipientsRefused is also ``smtplib.SMTPRecipientsRefused`` (with ``recipients``),
  SMTPDataError ``smtplib.SMTPDataError``, SMTPAuthError ``smtplib.SMTPAuthenticationError``,
  SMTPNotSupportedError ``smtplib.SMTPNotSupportedError``, SMTPConnectionDropped and
  SMTPNotConnectedError ``smtplib.SMTPServerDisconnected``; SMTPProtocolError and SMTPTLSError
  are ``smtplib.SMTPException``. (smtplib's exceptions are ``OSError`` subclasses, so all of
  these are ``OSError`` too, as smtplib's and ``ssl``'s errors are.)

``str(error)`` is ``"[code] description"`` for every class; ``args`` is that one string. The
errors pickle (multiprocessing, task queues) to the same type, message, code and attributes.
"""
from __future__ import annotations

import smtplib as _smtplib
from typing import Any

_OS_ATTRIBUTES = ("errno", "strerror", "filename", "filename2")


def _rebuild(cls: "type[SMTPError]", args: tuple[Any, ...]) -> "SMTPError":
    """Unpickling: the instance without its ``__init__`` (the state is restored afterwards)."""
    error = cls.__new__(cls)
    error.args = args
    return error


class SMTPError(Exception):
    """Base of every smtpx error."""

    default_code = 161
    # smtplib.SMTPResponseException's attributes, for handlers written for smtplib: the
    # server's reply code (-1 when no reply caused the error, as smtplib) and its text (UTF-8
    # bytes, as smtplib's; the description when there is no reply).
    smtp_code: int
    smtp_error: bytes | str

    def __init__(
        self,
        description: str,
        code: int | None = None,
        *,
        reply_code: int | None = None,
        enhanced: str | None = None,
        reply_text: str | None = None,
        **extra: Any,
    ) -> None:
        self.code = self.default_code if code is None else code
        self.description = description
        self.reply_code = reply_code
        self.enhanced = enhanced
        self.reply_text = reply_text
        self.smtp_code = reply_code if reply_code is not None else -1
        self.smtp_error = (reply_text if reply_text is not None else description).encode("utf-8", "replace")
        for key, value in extra.items():
            setattr(self, key, value)
        # Not super().__init__(): the smtplib classes some subclasses also derive from take other
        # arguments. For the OSError subclasses, errno / strerror stay None (str() is unchanged).
        Exception.__init__(self, f"[{self.code}] {description}")

    def __reduce__(self) -> tuple[Any, ...]:
        # The default would call __init__(*args) with "[code] description" as the description.
        state = dict(self.__dict__)
        if isinstance(self, OSError):  # C-level attributes, not in __dict__
            for name in _OS_ATTRIBUTES:
                value = getattr(self, name)
                if value is not None:
                    state[name] = value
        return (_rebuild, (type(self), self.args), state)


class SMTPInputError(SMTPError, ValueError):
    """Bad input from the user (address, header, command, setting). Nothing was sent."""

    default_code = 10022  # the reference's "Invalid argument"


class SMTPConfigError(SMTPInputError):
    """A config() name that does not exist or a value that does not fit the setting."""


class SMTPProtocolError(SMTPError, _smtplib.SMTPException):
    """The server broke the protocol (bad reply syntax, limits, unsolicited reply, ...)."""

    default_code = 161


class SMTPReplyError(SMTPError, _smtplib.SMTPResponseException):
    """The server refused a command; reply_code / enhanced / reply_text say how (also as
    smtplib's ``smtp_code`` / ``smtp_error``)."""

    default_code = 161


class SMTPServiceClosing(SMTPReplyError):
    """The server answered 421: the session is over; the object stays usable."""


class SMTPRecipientsRefused(SMTPReplyError, _smtplib.SMTPRecipientsRefused):  # type: ignore[misc]  # args: ours
    """Recipients were refused and the StopOn*Errors rules say the send fails.
    ``result`` holds the per-recipient outcome; ``recipients`` (as smtplib's) maps each
    refused address to ``(reply code, reply text bytes)``."""

    @property  # computed from ``result``, so that it stays true (smtplib sets an attribute)
    def recipients(self) -> dict[str, tuple[int, bytes]]:  # type: ignore[override]
        result = getattr(self, "result", None)
        refused = getattr(result, "refused", None) or []
        return {item.address: (item.reply.code, "\n".join(item.reply.lines).encode("utf-8", "replace"))
                for item in refused}


class SMTPSenderRefused(SMTPReplyError):
    """MAIL FROM was refused."""


class SMTPDataError(SMTPReplyError, _smtplib.SMTPDataError):
    """DATA, BDAT or the end of data was refused."""


class SMTPAuthError(SMTPReplyError, _smtplib.SMTPAuthenticationError):
    """Authentication failed or could not be attempted safely."""


class SMTPNotSupportedError(SMTPError, _smtplib.SMTPNotSupportedError):
    """The server lacks what the message or the settings need (SMTPUTF8, 8BITMIME, SIZE, TLS...)."""

    default_code = 161


class SMTPMessageTooLarge(SMTPNotSupportedError):
    """The message is larger than the server's SIZE limit; nothing was sent."""


class SMTPCommunicationError(SMTPError, OSError):
    """An I/O error talking to the server (162)."""

    default_code = 162


class SMTPConnectionDropped(SMTPCommunicationError, ConnectionError, _smtplib.SMTPServerDisconnected):
    """The server closed the connection (1120)."""

    default_code = 1120


class SMTPConnectError(SMTPCommunicationError, ConnectionError):
    """Could not connect: 10060 timed out, 10061 refused, 11001 host not found, ..."""

    default_code = 10061


class SMTPConnectTimeoutError(SMTPConnectError, TimeoutError):
    """The connection attempt timed out (10060): an SMTPConnectError that is also a TimeoutError."""

    default_code = 10060


class SMTPTimeoutError(SMTPError, TimeoutError):
    """A timeout expired (301)."""

    default_code = 301


class SMTPInterrupted(SMTPError):
    """interrupt() aborted the method in progress (301)."""

    default_code = 301


class SMTPBusyError(SMTPError):
    """A method is already running on this object (166): smtpx.SMTP from a second thread.
    (AsyncSMTP makes a second coroutine wait for its turn instead.)"""

    default_code = 166


class SMTPNotConnectedError(SMTPError, _smtplib.SMTPServerDisconnected):
    """Action impossible while not connected (1117)."""

    default_code = 1117


class SMTPTLSError(SMTPError, _smtplib.SMTPException):
    """TLS could not be set up or was refused (270-284); nothing more was sent in plaintext."""

    default_code = 276


class SMTPCertificateError(SMTPTLSError):
    """The server certificate was not accepted (280)."""

    default_code = 280


class SMTPCertificateStoreError(SMTPTLSError, ValueError):
    """The certificate or store the caller gave cannot be used: unreadable, not found, wrong
    password, not a certificate (271), or the certificate is not in it (272)."""

    default_code = 271


class SMTPFirewallError(SMTPError, ConnectionError):
    """The proxy / firewall refused or broke the handshake (118). Nothing reached the mail server."""

    default_code = 118
