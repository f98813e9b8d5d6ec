"""Event objects. A handler ``smtp.on_<event> = fn`` receives one of these; writable fields
(``accept`` of SSLServerAuthenticationEvent) are read back after the handler returns."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ConnectionStatusEvent:
    connection_event: str
    status_code: int
    description: str


@dataclass
class StartTransferEvent:
    direction: int  # 0 client, 1 server


@dataclass
class TransferEvent:
    direction: int
    bytes_transferred: int
    percent_done: int  # -1 when the total is unknown
    text: bytes


@dataclass
class EndTransferEvent:
    direction: int


@dataclass
class ErrorEvent:
    error_code: int
    description: str


@dataclass
class ExpandEvent:
    address: str


@dataclass
class PITrailEvent:
    direction: int  # 0 client, 1 server, 2 info
    message: str


@dataclass
class SSLServerAuthenticationEvent:
    cert_encoded: bytes
    cert_subject: str
    cert_issuer: str
    status: str
    accept: bool


@dataclass
class SSLStatusEvent:
    message: str


EVENT_NAMES = (
    "on_connection_status",
    "on_start_transfer",
    "on_transfer",
    "on_end_transfer",
    "on_error",
    "on_expand",
    "on_pi_trail",
    "on_ssl_server_authentication",
    "on_ssl_status",
)
