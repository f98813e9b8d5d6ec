"""What one connection needs (SessionSettings, gathered by the facade from properties and
config), and the decisions taken from it before anything reaches the network: the start mode
a port implies, the EHLO name, TLS required or not and the TLS settings. Both drivers use them."""
from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from smtpx.enums import SSLStartMode
from smtpx.errors import SMTPTLSError
from smtpx.transport.byte_stream import Address

if TYPE_CHECKING:
    from smtpx.engine import EngineOptions
    from smtpx.sasl import SASLMechanism
    from smtpx.tls import TLSSettings
    from smtpx.transport.connect import ConnectOptions

__all__ = ["SessionSettings", "PLAINTEXT_PORTS", "effective_start_mode", "local_name", "prepare_open"]

# The reference: automatic mode behaves as explicit on "the standard plaintext port of the
# protocol". SMTP has two plaintext ports that upgrade with STARTTLS: 25 (relay) and 587
# (submission, RFC 6409); every other port is taken to be implicit TLS (465, RFC 8314).
PLAINTEXT_PORTS = frozenset({25, 587})


@dataclass
class SessionSettings:
    """Everything one connection needs, gathered by the facade from properties and config."""

    host: str
    port: int
    start_mode: int = SSLStartMode.NONE
    timeout: float = 60.0
    absolute_timeout: bool = False
    max_transfer_rate: int = 0
    max_reply_time: float = 300.0  # MaxReplyTime: one whole reply, from its first byte (0 = none)
    spin_wait: float = 50e-6  # SpinWait: a sync read polls this long before it sleeps (0 = never)
    hello_name: str = ""  # "" -> this host's FQDN, or an address literal when it has none
    connect_options: ConnectOptions | None = None
    engine_options: EngineOptions | None = None
    tls_settings: Callable[[], TLSSettings | None] | None = None  # built lazily: only TLS needs it
    # SASL mechanism factory (the server's AUTH keywords, TLS up) -> mechanism; None = no AUTH.
    mechanism: Callable[..., SASLMechanism] | None = None


def effective_start_mode(mode: int, port: int) -> SSLStartMode:
    """The start mode actually used: automatic resolves by port, as the reference's table says."""
    mode = SSLStartMode(int(mode))
    if mode == SSLStartMode.AUTOMATIC:
        return SSLStartMode.EXPLICIT if port in PLAINTEXT_PORTS else SSLStartMode.IMPLICIT
    return mode


def local_name(local_address: Address | None) -> str:
    """RFC 5321 4.1.4: the EHLO name, this host's FQDN, or an address literal of
    ``local_address`` (the socket's (host, port, ...)) when it has none."""
    fqdn = socket.getfqdn()
    if "." in fqdn and not fqdn.startswith("localhost"):
        return fqdn
    host = str(local_address[0]) if local_address else "127.0.0.1"
    return f"[IPv6:{host}]" if ":" in host else f"[{host}]"


def prepare_open(settings: SessionSettings, mode: SSLStartMode, options: EngineOptions) -> TLSSettings | None:
    """Before connecting: TLS required in the engine ``options`` when the mode starts TLS, and
    the TLS settings (None without TLS). TLS settings are built here so that a bad certificate
    setting fails before anything reaches the network."""
    if mode in (SSLStartMode.EXPLICIT, SSLStartMode.IMPLICIT):
        options.tls_required = True
    if mode == SSLStartMode.NONE:
        return None
    tls = settings.tls_settings() if settings.tls_settings is not None else None
    if tls is None:
        raise SMTPTLSError("TLS was asked for but no TLS settings could be built", 270)
    return tls
