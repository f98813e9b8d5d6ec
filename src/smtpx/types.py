"""The reference's value types, as dataclasses with the reference's fields in snake_case:
``Header``, ``MessageRecipient`` and ``Firewall``. (``Certificate`` lives in smtpx.tls.certificate.)
"""
from __future__ import annotations

from dataclasses import dataclass

from smtpx.enums import FirewallType, RecipientType
from smtpx.errors import SMTPInputError

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
        try:
            self.recipient_type = RecipientType(int(self.recipient_type))
        except (ValueError, TypeError):
            raise SMTPInputError(
                f"MessageRecipient.recipient_type must be 0 (To), 1 (Cc) or 2 (BCc), not {self.recipient_type!r}"
            ) from None


# The reference: "fwTunnel (1) ... Port is set to 80", SOCKS4/5/4A "Port is set to 1080".
FIREWALL_DEFAULT_PORTS: dict[int, int] = {
    FirewallType.NONE: 0,
    FirewallType.TUNNEL: 80,
    FirewallType.SOCKS4: 1080,
    FirewallType.SOCKS5: 1080,
    FirewallType.SOCKS4A: 1080,
}


def _firewall_type(value: object) -> FirewallType:
    try:
        return FirewallType(int(value))  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise SMTPInputError(
            f"Firewall.firewall_type must be one of 0 (none), 1 (tunnel), 2 (SOCKS4), 3 (SOCKS5), "
            f"10 (SOCKS4A), not {value!r}"
        ) from None


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
        self.firewall_type = _firewall_type(self.firewall_type)
        if not self.port:  # a port given to the constructor wins over the type's default
            object.__setattr__(self, "port", FIREWALL_DEFAULT_PORTS[self.firewall_type])
        self._check_port(self.port)
        object.__setattr__(self, "_ready", True)

    @staticmethod
    def _check_port(port: object) -> None:
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise SMTPInputError(f"Firewall.port must be an int from 0 to 65535, not {port!r}")

    def __setattr__(self, name: str, value: object) -> None:
        if name == "firewall_type":
            value = _firewall_type(value)
            object.__setattr__(self, name, value)
            if self.__dict__.get("_ready"):
                object.__setattr__(self, "port", FIREWALL_DEFAULT_PORTS[value])
            return
        if name == "port" and self.__dict__.get("_ready"):
            self._check_port(value)
        object.__setattr__(self, name, value)
