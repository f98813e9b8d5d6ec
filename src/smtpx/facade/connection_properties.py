"""The connection properties of smtpx.SMTP, as a mixin: validation, defaults, and the
reference's errors for the ones that cannot change while connected (100 MailPort, 101
MailServer, 107 LocalHost).

The class using it provides ``connected`` (bool) and ``_local_address()`` (the local address
of the open connection, or None), and calls ``_init_connection_properties()`` from its
``__init__`` and ``reset()``. State properties (connected, idle, last_reply, ssl_server_cert)
live in the facade, which knows the session.
"""
from __future__ import annotations

import ssl

from typing import Any

from smtpx.tls.certificate import Certificate
from smtpx.enums import AuthMechanism, SSLProvider, SSLStartMode
from smtpx.errors import SMTPInputError
from smtpx.types import Firewall

__all__ = ["ConnectionProperties", "CONNECTION_DEFAULTS"]

# The reference's "Default Value" of each property (attribute name -> default).
CONNECTION_DEFAULTS: dict[str, Any] = {
    "_allow_extensions": True,
    "_auth_mechanism": AuthMechanism.USER_PASSWORD,
    "_local_host": "",
    "_mail_port": 25,
    "_mail_server": "",
    "_password": "",
    "_ssl_provider": SSLProvider.AUTOMATIC,
    "_ssl_start_mode": SSLStartMode.NONE,
    "_timeout": 60,
    "_user": "",
}


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise SMTPInputError(f"{name} must be True or False, not {value!r}")


def _enum(enum_type: Any, name: str, value: Any) -> Any:
    try:
        if isinstance(value, bool):
            raise ValueError
        return enum_type(int(value))
    except (ValueError, TypeError):
        allowed = ", ".join(f"{m.value} ({m.name})" for m in enum_type)
        raise SMTPInputError(f"{name} must be one of {allowed}, not {value!r}") from None


def check_text(name: str, value: Any) -> str:
    """A one-line setting: a str without control characters (CR, LF, NUL...)."""
    if not isinstance(value, str):
        raise SMTPInputError(f"{name} must be a string, not {type(value).__name__}")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise SMTPInputError(f"{name} must not contain control characters (CR, LF, NUL...)")
    return value


class ConnectionProperties:
    """Mixin: the connection properties of the reference (see the module docstring)."""

    connected: bool

    def _local_address(self) -> str | None:
        raise NotImplementedError

    def _local_port(self) -> int | None:
        """The local port of the live connection (None when not connected): the reference
        shows it in LocalPort after connecting."""
        session = getattr(self, "_session", None) if self.connected else None
        address = getattr(getattr(session, "stream", None), "local_address", None)
        if isinstance(address, tuple) and len(address) > 1 and address[1]:
            return int(address[1])
        return None

    def _init_connection_properties(self) -> None:
        for attr, default in CONNECTION_DEFAULTS.items():
            setattr(self, attr, default)
        self._firewall = Firewall()
        self._ssl_cert: Certificate | None = None
        self._ssl_accept_server_cert: Certificate | None = None
        self._ssl_context: ssl.SSLContext | None = None

    def _connection_locked(self, code: int, what: str) -> None:
        if self.connected:
            raise SMTPInputError(f"You cannot change the {what} at this time. A connection is in progress.", code)

    @property
    def allow_extensions(self) -> bool:
        """EHLO and ESMTP extensions (True), or plain HELO (False)."""
        return self._allow_extensions

    @allow_extensions.setter
    def allow_extensions(self, value: bool) -> None:
        self._allow_extensions = _bool("allow_extensions", value)
        config = getattr(self, "_config", None)
        if config is not None:
            config.changed()  # it feeds the engine options (see FacadeBase._refresh_options)

    @property
    def auth_mechanism(self) -> AuthMechanism:
        """The SASL mechanism used when user (and password) are set."""
        return self._auth_mechanism

    @auth_mechanism.setter
    def auth_mechanism(self, value: int) -> None:
        self._auth_mechanism = _enum(AuthMechanism, "auth_mechanism", value)

    @property
    def firewall(self) -> Firewall:
        """The proxy to connect through (smtpx.types.Firewall); also seen as Firewall* config."""
        return self._firewall

    @firewall.setter
    def firewall(self, value: Firewall) -> None:
        if not isinstance(value, Firewall):
            raise SMTPInputError(f"firewall must be a smtpx.Firewall, not {type(value).__name__}")
        self._firewall = value

    @property
    def local_host(self) -> str:
        """The local interface to connect from; while connected, the local address in use."""
        address = self._local_address() if self.connected else None
        return address if address is not None else self._local_host

    @local_host.setter
    def local_host(self, value: str) -> None:
        self._connection_locked(107, "LocalHost")
        self._local_host = check_text("local_host", value)

    @property
    def mail_port(self) -> int:
        """The server port (default 25)."""
        return self._mail_port

    @mail_port.setter
    def mail_port(self, value: int) -> None:
        self._connection_locked(100, "MailPort")
        if isinstance(value, bool) or not isinstance(value, int):
            raise SMTPInputError(f"mail_port must be an int from 1 to 65535, not {value!r}")
        if value == 0:
            raise SMTPInputError("RemotePort cannot be zero. Please specify a valid service port number.", 116)
        if not 1 <= value <= 65535:
            raise SMTPInputError(f"mail_port must be from 1 to 65535, not {value}")
        self._mail_port = value

    @property
    def mail_server(self) -> str:
        """The mail relay's name or address ("*name" lets a SOCKS proxy resolve it)."""
        return self._mail_server

    @mail_server.setter
    def mail_server(self, value: str) -> None:
        self._connection_locked(101, "MailServer")
        self._mail_server = check_text("mail_server", value).strip()

    @property
    def password(self) -> str:
        """The password for AUTH."""
        return self._password

    @password.setter
    def password(self, value: str) -> None:
        if not isinstance(value, str):
            raise SMTPInputError("password must be a string")
        self._password = value

    @property
    def ssl_accept_server_cert(self) -> Certificate | None:
        """A Certificate accepted as the server's even when verification fails (or None)."""
        return self._ssl_accept_server_cert

    @ssl_accept_server_cert.setter
    def ssl_accept_server_cert(self, value: Certificate | None) -> None:
        self._ssl_accept_server_cert = self._certificate("ssl_accept_server_cert", value)

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The user's own ``ssl.SSLContext`` for the handshake (as smtplib and aiosmtplib take
        it), or None for one built from the SSL settings. A verifying context (CERT_REQUIRED)
        gives OpenSSL's verdict in the handshake, which no handler or pin can overrule; a
        CERT_NONE context leaves verification to smtpx (see smtpx.tls)."""
        return self._ssl_context

    @ssl_context.setter
    def ssl_context(self, value: ssl.SSLContext | None) -> None:
        if value is not None and not isinstance(value, ssl.SSLContext):
            raise SMTPInputError(f"ssl_context must be an ssl.SSLContext or None, not {type(value).__name__}")
        self._ssl_context = value

    @property
    def ssl_cert(self) -> Certificate | None:
        """The client Certificate presented during the TLS handshake (or None)."""
        return self._ssl_cert

    @ssl_cert.setter
    def ssl_cert(self, value: Certificate | None) -> None:
        self._ssl_cert = self._certificate("ssl_cert", value)

    @staticmethod
    def _certificate(name: str, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, Certificate):
            raise SMTPInputError(f"{name} must be a smtpx.Certificate or None, not {type(value).__name__}")
        return value

    @property
    def ssl_enabled(self) -> bool:
        """Whether TLS is used; follows ssl_start_mode (True = anything but NONE)."""
        return self._ssl_start_mode != SSLStartMode.NONE

    @ssl_enabled.setter
    def ssl_enabled(self, value: bool) -> None:
        value = _bool("ssl_enabled", value)
        if value and self._ssl_start_mode == SSLStartMode.NONE:
            self._ssl_start_mode = SSLStartMode.AUTOMATIC
        elif not value:
            self._ssl_start_mode = SSLStartMode.NONE

    @property
    def ssl_provider(self) -> SSLProvider:
        """Accepted for compatibility: every value uses Python's ssl module (OpenSSL), the
        only TLS implementation smtpx has."""
        return self._ssl_provider

    @ssl_provider.setter
    def ssl_provider(self, value: int) -> None:
        self._ssl_provider = _enum(SSLProvider, "ssl_provider", value)

    @property
    def ssl_start_mode(self) -> SSLStartMode:
        """AUTOMATIC (explicit on ports 25/587, implicit elsewhere), IMPLICIT, EXPLICIT or NONE."""
        return self._ssl_start_mode

    @ssl_start_mode.setter
    def ssl_start_mode(self, value: int) -> None:
        self._ssl_start_mode = _enum(SSLStartMode, "ssl_start_mode", value)

    @property
    def timeout(self) -> int:
        """Seconds of inactivity before an operation fails (0 = wait for ever)."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SMTPInputError(f"timeout must be an int >= 0 (seconds), not {value!r}")
        self._timeout = value

    @property
    def user(self) -> str:
        """The user name for AUTH."""
        return self._user

    @user.setter
    def user(self, value: str) -> None:
        self._user = check_text("user", value)
