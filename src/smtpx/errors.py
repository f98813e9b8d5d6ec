"""Typed errors. Every error carries the reference's numeric ``code`` and a ``description``;
errors caused by a server reply also carry ``reply_code``, ``enhanced`` and ``reply_text``.

Codes (from the class reference): 118 firewall, 161 protocol error / server refusal,
162 communication error, 163 no MailServer, 164 no From, 165 no recipient, 166 busy,
201/301 timeout, 301 interrupted, 270-284 TLS, 1117 not connected, 1120 connection dropped,
10060 connect timed out, 10061 connection refused, 11001 host not found.
"""
from __future__ import annotations

from typing import Any


class SMTPError(Exception):
    """Base of every smtpx error."""

    default_code = 161

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
        for key, value in extra.items():
            setattr(self, key, value)
        super().__init__(f"[{self.code}] {description}")


class SMTPInputError(SMTPError, ValueError):
    """Bad input from the user (address, header, command, setting). Nothing was sent."""

    default_code = 10022  # the reference's "Invalid argument"


class SMTPConfigError(SMTPInputError):
    """A config() name that does not exist or a value that does not fit the setting."""


class SMTPProtocolError(SMTPError):
    """The server broke the protocol (bad reply syntax, limits, unsolicited reply, ...)."""

    default_code = 161


class SMTPReplyError(SMTPError):
    """The server refused a command; reply_code / enhanced / reply_text say how."""

    default_code = 161


class SMTPServiceClosing(SMTPReplyError):
    """The server answered 421: the session is over; the object stays usable."""


class SMTPRecipientsRefused(SMTPReplyError):
    """Recipients were refused and the StopOn*Errors rules say the send fails.
    ``result`` holds the per-recipient outcome."""


class SMTPSenderRefused(SMTPReplyError):
    """MAIL FROM was refused."""


class SMTPDataError(SMTPReplyError):
    """DATA, BDAT or the end of data was refused."""


class SMTPAuthError(SMTPReplyError):
    """Authentication failed or could not be attempted safely."""


class SMTPNotSupportedError(SMTPError):
    """The server lacks what the message or the settings need (SMTPUTF8, 8BITMIME, SIZE, TLS...)."""

    default_code = 161


class SMTPMessageTooLarge(SMTPNotSupportedError):
    """The message is larger than the server's SIZE limit; nothing was sent."""


class SMTPCommunicationError(SMTPError):
    """An I/O error talking to the server (162)."""

    default_code = 162


class SMTPConnectionDropped(SMTPCommunicationError):
    """The server closed the connection (1120)."""

    default_code = 1120


class SMTPConnectError(SMTPCommunicationError):
    """Could not connect: 10060 timed out, 10061 refused, 11001 host not found, ..."""

    default_code = 10061


class SMTPTimeoutError(SMTPError):
    """A timeout expired (301)."""

    default_code = 301


class SMTPInterrupted(SMTPError):
    """interrupt() aborted the method in progress (301)."""

    default_code = 301


class SMTPBusyError(SMTPError):
    """A method is already running on this object (166)."""

    default_code = 166


class SMTPNotConnectedError(SMTPError):
    """Action impossible while not connected (1117)."""

    default_code = 1117


class SMTPTLSError(SMTPError):
    """TLS could not be set up or was refused (270-284); nothing more was sent in plaintext."""

    default_code = 276


class SMTPCertificateError(SMTPTLSError):
    """The server certificate was not accepted (280)."""

    default_code = 280


class SMTPFirewallError(SMTPError):
    """The proxy / firewall refused or broke the handshake (118). Nothing reached the mail server."""

    default_code = 118
