"""The reference's value types, as dataclasses with the reference's fields in snake_case:
``Header``, ``MessageRecipient`` and ``Firewall``. (``Certificate`` lives in smtpx.tls.certificate.)
"""
from __future__ import annotations

from dataclasses import dataclass

from smtpx.enums import FirewallType, RecipientType
from smtpx.validators import check_int, to_enum

__all__ = ["Header", "MessageRecipient", "Firewall", "FIREWALL_DEFAULT_PORTS"]


@dataclass
class Header:
    """One message header: ``field`` (name, as written) and ``value`` (unfolded, undecoded)."""

    field: str = ""
    value: str = ""


@dataclass
class MessageRecipient:
    """One recipient: ``address`` (addr-spec), ``name`` (display name), ``options`` (RFC 3461
    text such as ``"NOTIFY=SUCCESS,FAILURE"``) and ``recipient_type`` (RecipientType: TO, CC, BCC)."""

    address: str = ""
    name: str = ""
    options: str = ""
    recipient_type: int = RecipientType.TO

    def __post_init__(self) -> None:
        self.recipient_type = to_enum(RecipientType, self.recipient_type, "MessageRecipient.recipient_type")


# The reference: "fwTunnel (1) ... Port is set to 80", SOCKS4/5/4A "Port is set to 1080".
FIREWALL_DEFAULT_PORTS: dict[int, int] = {
    FirewallType.NONE: 0,
    FirewallType.TUNNEL: 80,
    FirewallType.SOCKS4: 1080,
    FirewallType.SOCKS5: 1080,
    FirewallType.SOCKS4A: 1080,
}


@dataclass
class Firewall:
    """The firewall (proxy) to connect through. Setting ``firewall_type`` sets ``port`` to that
    type's default (tunnel 80, SOCKS 1080), as the reference says; set ``port`` afterwards (or
    pass it to the constructor) to use another port."""

    auto_detect: bool = False
    firewall_type: int = FirewallType.NONE
    host: str = ""
    password: str = ""
    port: int = 0
    user: str = ""

    def __post_init__(self) -> None:
        self.firewall_type = to_enum(FirewallType, self.firewall_type, "Firewall.firewall_type")
        if not self.port:  # a port given to the constructor wins over the type's default
            object.__setattr__(self, "port", FIREWALL_DEFAULT_PORTS[self.firewall_type])
        check_int(self.port, "Firewall.port", 0, 65535)
        object.__setattr__(self, "_ready", True)

    def __setattr__(self, name: str, value: object) -> None:
        if name == "firewall_type":
            value = to_enum(FirewallType, value, "Firewall.firewall_type")
            object.__setattr__(self, name, value)
            if self.__dict__.get("_ready"):
                object.__setattr__(self, "port", FIREWALL_DEFAULT_PORTS[value])
            return
        if name == "port" and self.__dict__.get("_ready"):
            check_int(value, "Firewall.port", 0, 65535)
        object.__setattr__(self, name, value)
