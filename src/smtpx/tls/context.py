"""TLS settings and contexts: ``TLSSettings`` (gathered by the facade from properties and
config()), ``TLSInfo`` (what was negotiated), ``TLSHooks`` (what a handshake reports to), and
``build_context``, an ``ssl.SSLContext`` from the reference's settings.

Decisions on the reference's settings
-------------------------------------
- ``SSLEnabledProtocols``: the reference's bitmask. TLS 1.0 and 1.1 (and SSL 2/3) cannot be
  offered: OpenSSL 3 refuses them at the default security level (and RFC 8996 deprecates them).
  Their bits are ignored when TLS 1.2 or 1.3 is also enabled; a mask that enables nothing else
  is an ``SMTPConfigError``. The default here is TLS 1.2 + TLS 1.3 (``0x3C00`` = 15360), not
  the reference's 4032: a client in 2026 must offer TLS 1.3, and 4032's other bits are unusable.
- ``SSLEnabledCipherSuites``: IANA names (the reference's "SSL_" spellings too), separated by
  ";" or ",", mapped to OpenSSL names with the table below; "*" keeps Python's secure default.
  A name that OpenSSL 3 removed (RC4, DES, 3DES, EXPORT, NULL, anonymous, static ECDH, Kerberos)
  or that is unknown is an ``SMTPConfigError``. TLS 1.3 suites cannot be restricted through
  Python's ``ssl`` module (OpenSSL configures them separately and Python has no call for it):
  a list naming no TLS 1.3 suite turns TLS 1.3 off, a list naming all of OpenSSL's TLS 1.3
  suites keeps it on, and a list naming only some raises ``NotImplementedError``.
- ``SSLCheckCRL`` / ``SSLCheckOCSP``: 0 is accepted; 1 and 2 raise ``NotImplementedError``:
  revocation checking needs fetching CRLs / OCSP responses from the network, which smtpx does
  not do. Pin the certificate or use the handler instead.
- ``LogSSLPackets``: every TLS message and record header is reported through ``ssl_status``
  (CPython's ``SSLContext._msg_callback``; where it is missing, ``NotImplementedError``).
- ``SSLKeyLogFile``: supported (``SSLContext.keylog_filename``, appends NSS key log lines).
- ``SSLCipherStrength``: minimum bits for TLS <= 1.2 suites; above 128 with TLS 1.3 enabled it
  raises ``NotImplementedError`` (TLS_AES_128_GCM_SHA256 cannot be removed, see above).
- ``SSLEnableRenegotiation``: False sets ``OP_NO_RENEGOTIATION``.
- ``SSLCACerts``: extra certificates sent with the client certificate (its chain).
- ``SSLProvider``: there is one implementation (OpenSSL through ``ssl``); every provider value
  uses it.
- ``key_exchange_strength``: Python's ``ssl`` does not expose the negotiated group, so it is
  read from the server's handshake messages (smtpx.tls.messages); None where CPython's message
  hook is missing.
"""
from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass, field
from typing import Optional, Protocol

from cryptography.hazmat.primitives import serialization

from smtpx.errors import SMTPConfigError, SMTPTLSError
from smtpx.events import SSLServerAuthenticationEvent
from smtpx.tls import messages as tls_messages
from smtpx.tls.certificate import Certificate
from smtpx.tls.names import DEFAULT_ENABLED_PROTOCOLS, openssl_cipher_string, protocol_range
from smtpx.tls.verify import TrustAnchors, trust_anchors

__all__ = ["TLSSettings", "TLSInfo", "TLSHooks", "build_context"]


# ----------------------------------------------------------------------------- settings
@dataclass
class TLSSettings:
    """Everything the TLS layer needs, gathered by the facade from properties and config()."""

    enabled_protocols: int = DEFAULT_ENABLED_PROTOCOLS  # SSLEnabledProtocols
    cipher_suites: str = "*"                 # SSLEnabledCipherSuites
    cipher_strength_min: int = 0             # SSLCipherStrength (bits)
    server_ca_certs: str = ""                # SSLServerCACerts: PEM text, a PEM file or a folder,
                                             # trusted besides the platform's store
    use_system_trust: bool = True            # trust the platform's store as well
    client_cert: Optional[Certificate] = None    # SSLCert
    ca_certs: str = ""                       # SSLCACerts: chain sent with the client certificate
    accept_server_cert: Optional[Certificate] = None  # SSLAcceptServerCert
    key_log_file: str = ""                   # SSLKeyLogFile
    check_crl: int = 0                       # SSLCheckCRL (only 0 supported)
    check_ocsp: int = 0                      # SSLCheckOCSP (only 0 supported)
    include_cert_chain: bool = False         # SSLIncludeCertChain
    enable_renegotiation: bool = True        # SSLEnableRenegotiation
    log_ssl_packets: bool = False            # LogSSLPackets: TLS messages through ssl_status
    # ReuseSSLSession: pass the previous connection's SyncStream.tls_session and TLSInfo.context
    # (OpenSSL resumes a session only with the context that made it).
    session: Optional[ssl.SSLSession] = None
    context: Optional[ssl.SSLContext] = field(default=None, repr=False)
    # ssl_context=: the user's own context, used for the handshake as it is (see the module doc)
    user_context: Optional[ssl.SSLContext] = field(default=None, repr=False)

    def anchors(self) -> TrustAnchors:
        """The trust anchors (SMTPConfigError for an SSLServerCACerts that cannot be used)."""
        return trust_anchors(self.server_ca_certs, self.use_system_trust)

    def validate(self) -> None:
        """Raise for settings that cannot work, before anything is sent."""
        self.anchors()
        if self.user_context is not None:
            return  # the user's context decides versions, ciphers and certificates
        protocol_range(self.enabled_protocols)
        openssl_cipher_string(self.cipher_suites)
        if self.check_crl not in (0, 1, 2) or self.check_ocsp not in (0, 1, 2):
            raise SMTPConfigError("SSLCheckCRL and SSLCheckOCSP take 0, 1 or 2")
        if self.check_crl:
            raise NotImplementedError(
                "SSLCheckCRL: certificate revocation lists would have to be fetched from the "
                "certificate's distribution points, which smtpx does not do; use "
                "ssl_accept_server_cert or on_ssl_server_authentication to pin certificates")
        if self.check_ocsp:
            raise NotImplementedError(
                "SSLCheckOCSP: OCSP needs a query to the certificate's responder, which smtpx does "
                "not do; use ssl_accept_server_cert or on_ssl_server_authentication instead")
        if self.log_ssl_packets and not tls_messages.HAS_MESSAGE_HOOK:
            raise NotImplementedError(
                "LogSSLPackets: this Python's ssl module offers no hook for TLS messages")
        if self.cipher_strength_min < 0:
            raise SMTPConfigError("SSLCipherStrength must be >= 0")


class TLSHooks(Protocol):
    def ssl_status(self, message: str) -> None: ...
    def ssl_server_authentication(self, event: SSLServerAuthenticationEvent) -> bool: ...


@dataclass
class TLSInfo:
    """What was negotiated (the SSLNegotiated* settings) and who the server is."""

    version: str                  # "TLSv1.3"
    cipher: str                   # OpenSSL name, "ECDHE-RSA-AES128-GCM-SHA256"
    cipher_strength: int          # bits of the bulk cipher
    cipher_suite: str             # IANA name
    key_exchange: str             # "ECDHE", "DHE", "RSA" ("ECDHE/DHE (TLS 1.3)" if the group is unknown)
    key_exchange_strength: Optional[int]  # bits of the group (x25519: 253); None when unknown
    server_cert: Certificate
    peer_chain: list[Certificate]  # as sent by the server, leaf first
    verify_status: str            # "OK" or why verification failed
    accepted_by: str              # "verification", "ssl_accept_server_cert" or "handler"
    key_exchange_group: Optional[str] = None  # "x25519", "secp256r1", "ffdhe2048", ...
    session: Optional[ssl.SSLSession] = None   # for ReuseSSLSession; SyncStream.close() updates it
                                               # (TLS 1.3 tickets come after the handshake)
    session_reused: bool = False
    context: Optional[ssl.SSLContext] = field(default=None, repr=False)


# ----------------------------------------------------------------------------- context
def _load_client_cert(ctx: ssl.SSLContext, cert: Certificate, extra_chain: str) -> None:
    if cert.x509 is None:
        raise SMTPTLSError("the client certificate (SSLCert) holds no X.509 certificate", 281)
    if cert.key is None:
        raise SMTPTLSError("the client certificate (SSLCert) has no private key: load it from a "
                           "PFX or a PEM file holding the key", 273)
    # load_cert_chain() reads files only. The key goes to disk encrypted with a random one-time
    # password, in a 0600 file that is removed at once, so the plain key never touches disk.
    password = os.urandom(24).hex().encode("ascii")
    key_pem = cert.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.BestAvailableEncryption(password))
    extra = extra_chain.strip()
    chain = cert.pem(with_chain=True).encode("ascii") + (extra.encode("ascii", "replace") + b"\n" if extra else b"")
    fd, path = tempfile.mkstemp(prefix="smtpx-cert-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(chain + key_pem)
        ctx.load_cert_chain(path, password=password)
    except ssl.SSLError as exc:
        raise SMTPTLSError(f"cannot use the client certificate: {exc}", 273) from exc
    finally:
        os.unlink(path)


def build_context(settings: TLSSettings) -> ssl.SSLContext:
    """An SSLContext for ``settings``. Certificates are verified after the handshake by
    :func:`verify_server_chain`, so the context itself does not verify (see the module doc)."""
    settings.validate()
    low, high = protocol_range(settings.enabled_protocols)
    cipher_string, tls13_allowed = openssl_cipher_string(settings.cipher_suites)
    if not tls13_allowed and high == ssl.TLSVersion.TLSv1_3:
        high = ssl.TLSVersion.TLSv1_2
    if cipher_string == "":  # only TLS 1.3 suites were listed
        if high < ssl.TLSVersion.TLSv1_3:
            raise SMTPConfigError("SSLEnabledCipherSuites lists only TLS 1.3 suites but "
                                  "SSLEnabledProtocols does not enable TLS 1.3")
        low = ssl.TLSVersion.TLSv1_3
    if low > high:
        raise SMTPConfigError("SSLEnabledCipherSuites names no TLS 1.3 suite and SSLEnabledProtocols "
                              "enables only TLS 1.3: no cipher suite is left")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = low
    ctx.maximum_version = high
    if not settings.enable_renegotiation:
        ctx.options |= ssl.OP_NO_RENEGOTIATION
    try:
        if cipher_string:
            ctx.set_ciphers(cipher_string)
    except ssl.SSLError as exc:
        raise SMTPConfigError(f"OpenSSL accepts none of the cipher suites {settings.cipher_suites!r} "
                              f"({exc.reason or exc})") from exc
    if settings.cipher_strength_min:
        _apply_min_strength(ctx, settings.cipher_strength_min, high)
    if settings.key_log_file:
        ctx.keylog_filename = settings.key_log_file
    if settings.client_cert is not None and not settings.client_cert.is_empty:
        _load_client_cert(ctx, settings.client_cert, settings.ca_certs)
    return ctx


def _apply_min_strength(ctx: ssl.SSLContext, bits: int, high: ssl.TLSVersion) -> None:
    if bits > 128 and high >= ssl.TLSVersion.TLSv1_3:
        raise NotImplementedError(
            "SSLCipherStrength above 128 cannot be enforced with TLS 1.3 enabled (Python's ssl "
            "cannot remove TLS_AES_128_GCM_SHA256); disable TLS 1.3 in SSLEnabledProtocols")
    strong = [c["name"] for c in ctx.get_ciphers()
              if c["protocol"] != "TLSv1.3" and c["strength_bits"] >= bits]
    if not strong:
        raise SMTPConfigError(f"no enabled cipher suite reaches SSLCipherStrength={bits}")
    ctx.set_ciphers(":".join(strong))
