"""Test helpers: certificates made at test time (trustme, cryptography) and a real TLS line
server on 127.0.0.1 in a thread."""
from __future__ import annotations

import datetime as dt
import socket
import ssl
from dataclasses import dataclass, field

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from smtpx.tls import TLSSettings
from smtpx.transport.stream import SyncStream

from tests.servers.sockets import LoopbackServer, read_line

UTC = dt.timezone.utc


def self_signed(hosts=("localhost", "127.0.0.1")) -> tuple[bytes, bytes]:
    """(cert PEM, key PEM) of a self-signed leaf for ``hosts``."""
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed test")])
    sans = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    now = dt.datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@dataclass
class PKI:
    ca: trustme.CA
    good: trustme.LeafCert
    expired: trustme.LeafCert
    not_yet_valid: trustme.LeafCert
    wrong_host: trustme.LeafCert
    self_signed: tuple[bytes, bytes]
    other_ca: trustme.CA
    untrusted: trustme.LeafCert
    intermediate_leaf: trustme.LeafCert
    client_ca: trustme.CA
    client: trustme.LeafCert


def make_pki() -> PKI:
    ca = trustme.CA()
    now = dt.datetime.now(UTC)
    other = trustme.CA()
    child = ca.create_child_ca()
    client_ca = trustme.CA()
    return PKI(
        ca=ca,
        good=ca.issue_cert("localhost", "127.0.0.1"),
        expired=ca.issue_cert("localhost", "127.0.0.1", not_before=now - dt.timedelta(days=30),
                              not_after=now - dt.timedelta(days=1)),
        not_yet_valid=ca.issue_cert("localhost", "127.0.0.1", not_before=now + dt.timedelta(days=1),
                                    not_after=now + dt.timedelta(days=30)),
        wrong_host=ca.issue_cert("other.example"),
        self_signed=self_signed(),
        other_ca=other,
        untrusted=other.issue_cert("localhost", "127.0.0.1"),
        intermediate_leaf=child.issue_cert("localhost", "127.0.0.1"),
        client_ca=client_ca,
        client=client_ca.issue_cert("client@example.test", common_name="smtpx test client"),
    )


def server_context(chain_pem: bytes, key_pem: bytes, *, client_ca: trustme.CA | None = None,
                   min_version=None, max_version=None, ciphers: str | None = None) -> ssl.SSLContext:
    import os
    import tempfile

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    fd, path = tempfile.mkstemp(suffix=".pem")
    with os.fdopen(fd, "wb") as handle:
        handle.write(chain_pem + key_pem)
    try:
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)
    if client_ca is not None:
        client_ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
    if min_version is not None:
        ctx.minimum_version = min_version
    if max_version is not None:
        ctx.maximum_version = max_version
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def leaf_context(leaf: trustme.LeafCert, **kw) -> ssl.SSLContext:
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    return server_context(chain, leaf.private_key_pem.bytes(), **kw)


@dataclass
class Conn:
    received: bytearray = field(default_factory=bytearray)
    peer_cert: dict | None = None
    cipher: tuple | None = None
    version: str | None = None
    error: BaseException | None = None


class TLSLineServer(LoopbackServer):
    """Accepts connections on 127.0.0.1; each one: optional plain ``before`` bytes (e.g. a
    greeting or injected bytes), the TLS handshake, then echo of every line received."""

    def __init__(self, ctx: ssl.SSLContext | None, before: bytes = b"", close_before_tls: bool = False,
                 echo: bool = True, ack_after: int = 0):
        self.ctx = ctx
        self.echo = echo
        self.ack_after = ack_after
        self.before = before
        self.close_before_tls = close_before_tls
        self.conns: list[Conn] = []
        super().__init__()

    def handle(self, sock: socket.socket) -> None:
        conn = Conn()
        self.conns.append(conn)
        try:
            if self.before:
                sock.sendall(self.before)
            if self.close_before_tls:
                return
            if self.ctx is None:
                return
            tls = self.ctx.wrap_socket(sock, server_side=True)
            conn.peer_cert = tls.getpeercert()
            conn.cipher = tls.cipher()
            conn.version = tls.version()
            while True:
                data = tls.recv(65536)
                if not data:
                    break
                conn.received += data
                if self.echo:
                    tls.sendall(data)
                elif self.ack_after and len(conn.received) >= self.ack_after:
                    tls.sendall(b"ACK\n")
        except (OSError, ssl.SSLError) as exc:
            conn.error = exc

    def wait_done(self, timeout: float = 5.0) -> Conn:
        import time

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.conns and (self.conns[-1].error is not None or self.conns[-1].version is not None):
                break
            time.sleep(0.01)
        return self.conns[-1]


class Hooks:
    """Records the TLS hooks; ``decide`` (event -> bool) may overrule the verdict."""

    def __init__(self, decide=None, server: TLSLineServer | None = None):
        self.decide = decide
        self.server = server
        self.events = []
        self.statuses: list[str] = []
        self.server_had_data_at_verdict: bool | None = None

    def ssl_status(self, message: str) -> None:
        self.statuses.append(message)

    def ssl_server_authentication(self, event) -> bool:
        import copy

        self.events.append(copy.copy(event))
        if self.server is not None and self.server.conns:
            self.server_had_data_at_verdict = bool(self.server.conns[-1].received)
        return self.decide(event) if self.decide is not None else event.accept


def open_stream(port: int, timeout: float = 5.0) -> SyncStream:
    return SyncStream(socket.create_connection(("127.0.0.1", port), timeout=5), timeout)


def trusting(pki: PKI, **kw) -> TLSSettings:
    return TLSSettings(server_ca_certs=pki.ca.cert_pem.bytes().decode(), **kw)


def roundtrip(stream: SyncStream, line: bytes = b"NOOP\r\n") -> bytes:
    stream.write(line)
    return read_line(stream)
