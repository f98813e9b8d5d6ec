"""TLS: contexts from the reference's settings (``context``), the handshake and the server's
verdict (``handshake``), OpenSSL's verification of the chain (``verify``), cipher and version
names (``names``), the TLS message hook (``messages``) and the Certificate type
(``certificate``). See docs/tls.md."""
from __future__ import annotations

from smtpx.tls.context import TLSHooks, TLSInfo, TLSSettings, build_context
from smtpx.tls.handshake import certificate_refused, handshake, handshake_context, handshake_error, server_verdict
from smtpx.tls.names import (DEFAULT_ENABLED_PROTOCOLS, IANA_TO_OPENSSL, OPENSSL_TO_IANA, TLS13_SUITES,
                             openssl_cipher_string, protocol_range)
from smtpx.tls.verify import (STATUS_EXPIRED, STATUS_HOST_MISMATCH, STATUS_INVALID, STATUS_NO_SAN,
                              STATUS_NOT_YET_VALID, STATUS_OK, STATUS_SELF_SIGNED, STATUS_UNTRUSTED,
                              TrustAnchors, trust_anchors, verify_server_chain)

__all__ = [
    "TLSSettings", "TLSInfo", "TLSHooks", "build_context",
    "handshake", "handshake_context", "handshake_error", "certificate_refused", "server_verdict",
    "DEFAULT_ENABLED_PROTOCOLS", "IANA_TO_OPENSSL", "OPENSSL_TO_IANA", "TLS13_SUITES",
    "openssl_cipher_string", "protocol_range",
    "STATUS_OK", "STATUS_EXPIRED", "STATUS_NOT_YET_VALID", "STATUS_SELF_SIGNED",
    "STATUS_HOST_MISMATCH", "STATUS_UNTRUSTED", "STATUS_NO_SAN", "STATUS_INVALID",
    "TrustAnchors", "trust_anchors", "verify_server_chain",
]
