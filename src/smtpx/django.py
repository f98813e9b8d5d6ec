"""A Django email backend on smtpx: ``EMAIL_BACKEND = "smtpx.django.EmailBackend"``.

It takes the settings and constructor arguments of Django's own SMTP backend
(``django.core.mail.backends.smtp.EmailBackend``) and behaves as it does (open / close,
connection reuse, fail_silently, the count returned), with two differences: every call of
``send_messages`` sends its messages pipelined over one connection (``SMTP.send_batch``),
and the messages are checked by smtpx before anything is written (a header with a line break
smuggled in, a bad address: SMTPInputError, a ValueError, raised even with fail_silently, as
Django raises its own ValueErrors).

Settings (the constructor's arguments win over them): EMAIL_HOST, EMAIL_PORT,
EMAIL_HOST_USER, EMAIL_HOST_PASSWORD (AUTH when both are set), EMAIL_USE_TLS (STARTTLS),
EMAIL_USE_SSL (implicit TLS), EMAIL_TIMEOUT (seconds, rounded up to whole ones; None = no
timeout), EMAIL_SSL_CERTFILE / EMAIL_SSL_KEYFILE (the client certificate). Unlike smtplib, smtpx
refuses to send a password over a connection without TLS (SMTPAuthError, nothing sent) unless
the AllowPlaintextAuth setting says otherwise. smtpx's own:
``SMTPX_CONFIG`` / ``config=`` (smtpx config settings, e.g. ``{"SSLServerCACerts":
"/etc/ssl/corp-ca.pem"}`` to trust a private CA) and ``ssl_context=`` (an ssl.SSLContext used
as it is). See docs/django.md.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings  # type: ignore[import-untyped,import-not-found,unused-ignore]
from django.core.mail.backends.base import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
    BaseEmailBackend,
)
from django.core.mail.message import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
    sanitize_address,
)

import smtpx
from smtpx.errors import SMTPConnectionDropped, SMTPError, SMTPNotConnectedError
from smtpx.message.email_message import PreparedMessage, prepare_email_message

__all__ = ["EmailBackend"]

# smtplib's rule, which Django's backend follows: a message goes to the recipients the server
# accepted; only when it refuses them all is the message not sent (smtpx's default stops at
# a refused To or Cc). SMTPX_CONFIG can set them back.
# smtplib's rules: a refused recipient does not stop the others; the strongest AUTH mechanism
# the server offers (smtplib tries CRAM-MD5, PLAIN, LOGIN; smtpx adds SCRAM first).
_DJANGO_DEFAULTS = {"StopOnToErrors": False, "StopOnCcErrors": False, "StopOnBccErrors": False,
                    "AuthMechanismAuto": True}


class EmailBackend(BaseEmailBackend):  # type: ignore[misc,unused-ignore]  # Django's class is untyped
    """Django's SMTP backend, over smtpx (module docstring)."""

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool | None = None,
        fail_silently: bool = False,
        use_ssl: bool | None = None,
        timeout: float | None = None,
        ssl_keyfile: str | None = None,
        ssl_certfile: str | None = None,
        *,
        ssl_context: Any = None,
        config: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fail_silently=fail_silently)
        self.host: str = host or settings.EMAIL_HOST
        self.port: int = port or settings.EMAIL_PORT
        self.username: str = settings.EMAIL_HOST_USER if username is None else username
        self.password: str = settings.EMAIL_HOST_PASSWORD if password is None else password
        self.use_tls: bool = settings.EMAIL_USE_TLS if use_tls is None else use_tls
        self.use_ssl: bool = settings.EMAIL_USE_SSL if use_ssl is None else use_ssl
        self.timeout: float | None = settings.EMAIL_TIMEOUT if timeout is None else timeout
        self.ssl_keyfile: str | None = settings.EMAIL_SSL_KEYFILE if ssl_keyfile is None else ssl_keyfile
        self.ssl_certfile: str | None = settings.EMAIL_SSL_CERTFILE if ssl_certfile is None else ssl_certfile
        self.ssl_context = ssl_context
        given = getattr(settings, "SMTPX_CONFIG", None) if config is None else config
        self.config: Mapping[str, Any] = {**_DJANGO_DEFAULTS, **(given or {})}
        if self.use_ssl and self.use_tls:
            raise ValueError(
                "EMAIL_USE_TLS/EMAIL_USE_SSL are mutually exclusive, so only set "
                "one of those settings to True."
            )
        self.connection: smtpx.SMTP | None = None
        self._lock = threading.RLock()

    # ============================================================================ connection
    def _client(self) -> smtpx.SMTP:
        """A new smtpx.SMTP for these settings (not connected)."""
        properties: dict[str, Any] = {"mail_server": self.host, "mail_port": int(self.port)}
        if self.use_ssl:
            properties["ssl_start_mode"] = smtpx.SSLStartMode.IMPLICIT
        elif self.use_tls:
            properties["ssl_start_mode"] = smtpx.SSLStartMode.EXPLICIT
        else:
            properties["ssl_start_mode"] = smtpx.SSLStartMode.NONE
        # smtplib without a timeout waits for ever: smtpx's 0. smtpx counts whole seconds.
        properties["timeout"] = 0 if self.timeout is None else max(1, math.ceil(self.timeout))
        if self.username and self.password:  # Django logs in only with both
            properties["user"] = self.username
            properties["password"] = self.password
        if self.ssl_certfile or self.ssl_keyfile:
            properties["ssl_cert"] = self._client_certificate()
        if self.ssl_context is not None:
            properties["ssl_context"] = self.ssl_context
        return smtpx.SMTP(config=self.config, **properties)

    def _client_certificate(self) -> smtpx.Certificate:
        """EMAIL_SSL_CERTFILE (with the key in it, or in EMAIL_SSL_KEYFILE), as ssl's
        load_cert_chain takes them."""
        if not self.ssl_certfile:
            raise ValueError("EMAIL_SSL_KEYFILE is set without EMAIL_SSL_CERTFILE")
        with open(self.ssl_certfile, "rb") as file:
            pem = file.read()
        if self.ssl_keyfile:
            with open(self.ssl_keyfile, "rb") as file:
                pem += b"\n" + file.read()
        return smtpx.Certificate(smtpx.CertStoreType.PEM_KEY_BLOB, pem)

    def open(self) -> bool | None:
        """Make sure a connection is open. True when this call opened it, False when one was
        open already, None when opening failed and fail_silently is set."""
        if self.connection is not None:
            return False
        client = self._client()  # bad settings raise (a ValueError), whatever fail_silently says
        try:
            client.connect()
        except OSError:  # connect, TLS, AUTH, timeouts: smtpx's errors are OSErrors, as smtplib's
            if not self.fail_silently:
                raise
            return None
        self.connection = client
        return True

    def close(self) -> None:
        """QUIT and close the connection (nothing when none is open)."""
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            connection.disconnect()
        except (SMTPConnectionDropped, SMTPNotConnectedError):
            pass  # already gone: nothing to close, as Django's backend
        except (SMTPError, OSError):
            if not self.fail_silently:
                raise

    # ============================================================================ sending
    def send_messages(self, email_messages: Sequence[Any]) -> int:
        """Send the messages over one connection, pipelined; return how many were sent.
        Messages without recipients are skipped, as Django does."""
        if not email_messages:
            return 0
        with self._lock:
            new_conn_created = self.open()
            if not self.connection or new_conn_created is None:
                return 0  # failed silently in open()
            try:
                return self._send_all(self.connection, [self._prepare(message) for message in email_messages
                                                        if message.recipients()])
            finally:
                if new_conn_created:
                    self.close()

    def _prepare(self, email_message: Any) -> PreparedMessage:
        """The envelope as Django's SMTP backend makes it (from_email and recipients(),
        sanitised), the bytes from message()."""
        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        from_email = sanitize_address(email_message.from_email, encoding)
        recipients = [sanitize_address(address, encoding) for address in email_message.recipients()]
        return prepare_email_message(email_message.message(), from_email, recipients, what="EmailBackend")

    def _send_all(self, connection: smtpx.SMTP, prepared: list[PreparedMessage]) -> int:
        if not prepared:
            return 0
        try:
            results: list[Any] = list(connection.send_batch([item.raw() for item in prepared]))
        except SMTPError as error:  # the session failed: what is known per message is on it
            if not self.fail_silently:
                raise
            results = list(getattr(error, "results", None) or [])
        sent = sum(1 for result in results if isinstance(result, smtpx.SendResult))
        if not self.fail_silently:
            for result in results:
                if isinstance(result, SMTPError):
                    raise result  # the first message that failed; the others went out
        return sent
