"""Verification of the server's certificate chain by OpenSSL itself, with a distinct status for
each kind of failure (why this design: see smtpx.tls).

The verdict is OpenSSL's: the chain the server sent is handed to an OpenSSL client of the
``ssl`` module built by ``ssl.create_default_context()`` (same library, same host name rules,
same trust anchors), through an in-memory TLS 1.2 exchange that stops right after OpenSSL has
verified the certificates (see :func:`_openssl_check`). So smtpx accepts exactly the chains
that OpenSSL's verification accepts (``openssl verify``, Postfix, and
``ssl.create_default_context(cafile=...)`` with ``check_hostname``), and refuses the ones it
refuses.

One flag is left out on purpose: Python 3.13's ``create_default_context()`` adds
``VERIFY_X509_STRICT``, which refuses CAs without a keyUsage extension, the company CAs that
``openssl req -x509`` makes with OpenSSL's default configuration and that OpenSSL itself,
Postfix and older Pythons accept. smtpx verifies without it on every Python, so one program
trusts the same CAs whatever Python runs it (``VERIFY_X509_PARTIAL_CHAIN``, which 3.13 adds
too, is kept where the Python sets it). A user who wants X509_STRICT passes their own
``ssl_context``.

The *reasons* come from further checks by OpenSSL (the chain alone, the host name alone) and
from the leaf's validity dates, so that an expired certificate for the wrong host reports
both problems. They explain a refusal; they never turn one into an acceptance.
"""
from __future__ import annotations

import datetime as _dt
import functools
import os
import ssl
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtensionOID

from smtpx.tls.certificate import Certificate, format_date
from smtpx.errors import SMTPConfigError

__all__ = ["verify_server_chain", "TrustAnchors", "trust_anchors", "status_for_openssl_error",
           "STATUS_OK", "STATUS_EXPIRED", "STATUS_NOT_YET_VALID", "STATUS_SELF_SIGNED",
           "STATUS_HOST_MISMATCH", "STATUS_UNTRUSTED", "STATUS_NO_SAN", "STATUS_INVALID"]

STATUS_OK = "OK"
STATUS_EXPIRED = "certificate has expired"
STATUS_NOT_YET_VALID = "certificate is not yet valid"
STATUS_SELF_SIGNED = "self-signed certificate"
STATUS_HOST_MISMATCH = "host name mismatch"
STATUS_NO_SAN = "certificate has no subjectAltName"
STATUS_UNTRUSTED = "unable to verify the certificate chain"
STATUS_INVALID = "invalid certificate"

# OpenSSL's X509_V_ERR_* codes that have a status of their own (x509_vfy.h).
_STATUS_BY_CODE = {
    2: STATUS_UNTRUSTED,        # unable to get issuer certificate
    9: STATUS_NOT_YET_VALID,    # certificate is not yet valid
    10: STATUS_EXPIRED,         # certificate has expired
    18: STATUS_SELF_SIGNED,     # self-signed certificate (depth zero)
    19: STATUS_UNTRUSTED,       # self-signed certificate in the chain (a root nobody trusts)
    20: STATUS_UNTRUSTED,       # unable to get local issuer certificate
    21: STATUS_UNTRUSTED,       # unable to verify the first certificate
    62: STATUS_HOST_MISMATCH,   # hostname mismatch
    64: STATUS_HOST_MISMATCH,   # IP address mismatch
}
_NO_CHECK_TIME = 0x200000      # X509_V_FLAG_NO_CHECK_TIME: the chain and the name apart from the dates
_PARTIAL_CHAIN = 0x80000       # X509_V_FLAG_PARTIAL_CHAIN: a trusted leaf is an anchor of its own


def status_for_openssl_error(code: int, message: str) -> str:
    """One reason (starting with a STATUS_* phrase) for OpenSSL's verify code and message."""
    status = _STATUS_BY_CODE.get(code, STATUS_INVALID)
    return f"{status} (OpenSSL: {message})" if message else status


# ----------------------------------------------------------------------------- trust anchors
@dataclass(frozen=True)
class TrustAnchors:
    """The CA certificates to trust: the platform's store (what ``ssl.create_default_context()``
    loads) and/or SSLServerCACerts as PEM text, a PEM file or a folder of PEM files."""

    use_system: bool = True
    cadata: str = ""     # PEM text (from the setting, or read from the files of a folder)
    cafile: str = ""     # a PEM file

    def context(self) -> ssl.SSLContext:
        """A verifying client context with these anchors, built by ``ssl.create_default_context``
        (this Python's host name rules and flags, less X509_STRICT: see the module doc)."""
        given = bool(self.cafile or self.cadata)
        try:
            if not given:
                ctx = ssl.create_default_context() if self.use_system else _without_anchors()
            else:
                ctx = ssl.create_default_context(cafile=self.cafile or None, cadata=self.cadata or None)
                if self.use_system:
                    ctx.load_default_certs()
            ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT  # OpenSSL's own rules (see the module doc)
            return ctx
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise SMTPConfigError(f"SSLServerCACerts: OpenSSL cannot load these CA certificates: {exc}") from exc


def _without_anchors() -> ssl.SSLContext:
    """create_default_context()'s flags with no CA at all (nothing can be trusted)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_flags = _default_verify_flags()
    return ctx


@functools.lru_cache(maxsize=None)
def _default_verify_flags() -> ssl.VerifyFlags:
    return ssl.create_default_context().verify_flags  # 3.13 adds X509_STRICT and PARTIAL_CHAIN


def _pem_certificates(text: str) -> list[str]:
    blocks = []
    for part in text.split("-----END CERTIFICATE-----"):
        start = part.find("-----BEGIN CERTIFICATE-----")
        if start >= 0:
            blocks.append(part[start:] + "-----END CERTIFICATE-----\n")
    return blocks


def _unusable(problem: str) -> SMTPConfigError:
    return SMTPConfigError(f"{problem} (allowed: PEM certificates as text, the path of a PEM file, or the "
                           "path of a folder of PEM files)")


def trust_anchors(server_ca_certs: str, use_system: bool = True) -> TrustAnchors:
    """TrustAnchors for the SSLServerCACerts value: PEM text, a path to a PEM file, or a
    folder whose files hold PEM certificates. Raises SMTPConfigError for a path that does not
    exist, a file or folder without certificates, or text that is neither PEM nor a path, so a
    wrong setting is an error at once, never a later "untrusted"."""
    value = server_ca_certs.strip()
    if not value:
        return TrustAnchors(use_system=use_system)
    if "-----BEGIN" in value:
        blocks = _pem_certificates(value)
        if not blocks:
            raise _unusable("SSLServerCACerts: the PEM text holds no CERTIFICATE block")
        anchors = TrustAnchors(use_system=use_system, cadata="".join(blocks))
    elif "\n" in value or "\r" in value:
        raise _unusable("SSLServerCACerts: neither PEM certificates nor the path of a file or folder")
    elif os.path.isdir(value):
        blocks = []
        for name in sorted(os.listdir(value)):
            full = os.path.join(value, name)
            if os.path.isfile(full):
                with open(full, "rb") as handle:
                    blocks.extend(_pem_certificates(handle.read().decode("ascii", "replace")))
        if not blocks:
            raise _unusable(f"SSLServerCACerts: the folder {value!r} holds no PEM certificate")
        anchors = TrustAnchors(use_system=use_system, cadata="".join(blocks))
    elif os.path.isfile(value):
        with open(value, "rb") as handle:
            if not _pem_certificates(handle.read().decode("ascii", "replace")):
                raise _unusable(f"SSLServerCACerts: the file {value!r} holds no PEM certificate")
        anchors = TrustAnchors(use_system=use_system, cafile=value)
    elif os.sep in value or "/" in value or value.lower().endswith((".pem", ".crt", ".cer")):
        raise _unusable(f"SSLServerCACerts: no such file or folder: {value!r}")
    else:
        raise _unusable(f"SSLServerCACerts: {value!r} is neither PEM certificates nor the path of "
                              "an existing file or folder")
    anchors.context()  # OpenSSL must be able to load them: fail now, not at the handshake
    return anchors


# ----------------------------------------------------------------------------- OpenSSL's verdict
_cache_lock = threading.Lock()
_checkers: "OrderedDict[tuple[TrustAnchors, float, str], ssl.SSLContext]" = OrderedDict()


def _checker(anchors: TrustAnchors, cipher: str) -> ssl.SSLContext:
    """A cached TLS 1.2-only verifying context for ``anchors`` (loading the platform store costs
    milliseconds; a context is safe to share between threads)."""
    stamp = os.path.getmtime(anchors.cafile) if anchors.cafile and os.path.exists(anchors.cafile) else 0.0
    key = (anchors, stamp, cipher)
    with _cache_lock:
        ctx = _checkers.get(key)
        if ctx is not None:
            _checkers.move_to_end(key)
            return ctx
    ctx = anchors.context()
    _restrict_to_tls12(ctx, cipher)
    with _cache_lock:
        _checkers[key] = ctx
        while len(_checkers) > 16:
            _checkers.popitem(last=False)
    return ctx


def _restrict_to_tls12(ctx: ssl.SSLContext, cipher: str) -> None:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(cipher)


def _cipher_for(leaf: x509.Certificate) -> tuple[str, bytes]:
    """A TLS 1.2 suite whose authentication fits the leaf's key, so that a chain OpenSSL
    accepts reaches the next handshake step (OpenSSL checks the key type after the chain)."""
    if isinstance(leaf.public_key(), rsa.RSAPublicKey):
        return "ECDHE-RSA-AES128-GCM-SHA256", b"\xc0\x2f"
    return "ECDHE-ECDSA-AES128-GCM-SHA256", b"\xc0\x2b"


def _handshake_message(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def _server_flight(chain_der: list[bytes], suite: bytes) -> bytes:
    """A TLS 1.2 ServerHello (with an empty renegotiation_info, which OpenSSL 3 requires) and
    the Certificate message carrying the chain exactly as the server sent it."""
    extensions = b"\xff\x01\x00\x01\x00"
    hello = (b"\x03\x03" + os.urandom(32) + b"\x00" + suite + b"\x00"
             + struct.pack(">H", len(extensions)) + extensions)
    certificates = b"".join(len(der).to_bytes(3, "big") + der for der in chain_der)
    flight = (_handshake_message(2, hello)
              + _handshake_message(11, len(certificates).to_bytes(3, "big") + certificates))
    records = []
    for start in range(0, len(flight), 16384):
        fragment = flight[start:start + 16384]
        records.append(b"\x16\x03\x03" + struct.pack(">H", len(fragment)) + fragment)
    return b"".join(records)


def _openssl_check(chain: list[x509.Certificate], hostname: Optional[str], anchors: TrustAnchors,
                   extra_flags: int = 0) -> Optional[tuple[int, str]]:
    """None when OpenSSL accepts ``chain`` (leaf first, as sent) for ``hostname`` (None: the
    chain alone), else (X509_V_ERR code, OpenSSL's message).

    OpenSSL's certificate verification cannot be called on its own through ``ssl``; a client
    does it while processing the server's Certificate message. So an in-memory client gets a
    ServerHello and the chain, verifies, and then waits for the key exchange that never comes:
    waiting means accepted, SSLCertVerificationError means refused."""
    cipher, suite = _cipher_for(chain[0])
    ctx = _checker(anchors, cipher)
    if hostname is None or extra_flags:
        ctx = _variant(ctx, anchors, cipher, hostname is not None, extra_flags)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = ctx.wrap_bio(incoming, outgoing, server_hostname=hostname)
    try:
        client.do_handshake()
    except ssl.SSLWantReadError:
        pass
    incoming.write(_server_flight([c.public_bytes(serialization.Encoding.DER) for c in chain], suite))
    try:
        client.do_handshake()
    except ssl.SSLWantReadError:
        return None
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_code, exc.verify_message or ""
    except ssl.SSLError as exc:  # not a verification failure: OpenSSL could not read the chain
        return -1, str(exc)
    return -1, "unexpected end of the verification exchange"


def _variant(base: ssl.SSLContext, anchors: TrustAnchors, cipher: str, check_hostname: bool,
             extra_flags: int) -> ssl.SSLContext:
    """A fresh context like ``base`` with the name check on or off and more verify flags (used
    only for the diagnosis of a refusal, so not cached)."""
    ctx = anchors.context()
    _restrict_to_tls12(ctx, cipher)
    ctx.check_hostname = check_hostname
    ctx.verify_flags = ssl.VerifyFlags(int(base.verify_flags) | extra_flags)
    return ctx


def _host_only_check(leaf: x509.Certificate, hostname: str) -> Optional[tuple[int, str]]:
    """OpenSSL's host name check alone: the leaf is its own trust anchor, dates ignored."""
    pem = leaf.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return _openssl_check([leaf], hostname, TrustAnchors(use_system=False, cadata=pem),
                          _PARTIAL_CHAIN | _NO_CHECK_TIME)


# ----------------------------------------------------------------------------- verdict + reasons
def _is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
        return True
    except Exception:  # InvalidSignature, ValueError, TypeError: not signed by itself
        return False


def _has_san(leaf: x509.Certificate) -> bool:
    try:
        leaf.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        return True
    except x509.ExtensionNotFound:
        return False


def verify_server_chain(chain: list[x509.Certificate], server_hostname: str,
                        anchors: TrustAnchors | None = None,
                        now: _dt.datetime | None = None) -> tuple[str, list[str]]:
    """Verify the server's chain (leaf first, as sent) for ``server_hostname``.

    Returns (status, reasons): status is "OK" or the reasons joined by "; ". Each reason
    starts with a ``STATUS_*`` phrase, so the kinds of failure stay distinct; the first one is
    OpenSSL's own verdict.
    """
    if not chain:
        return "no certificate from the server", ["no certificate from the server"]
    anchors = anchors or TrustAnchors()
    host = server_hostname.strip("[]") if server_hostname else ""
    if not host:
        reason = f"{STATUS_HOST_MISMATCH}: no host name to check the certificate against"
        return reason, [reason]
    try:
        verdict = _openssl_check(chain, host, anchors)
    except (ValueError, UnicodeError) as exc:  # a name the ssl module cannot even encode
        reason = f"{STATUS_HOST_MISMATCH}: {server_hostname!r} is not a valid DNS name or IP address ({exc})"
        return reason, [reason]
    if verdict is None:
        return STATUS_OK, []

    leaf = chain[0]
    reasons: list[str] = []

    def add(reason: str) -> None:  # one reason per kind of failure
        if all(_kind(reason) != _kind(known) for known in reasons):
            reasons.append(reason)

    code, message = verdict
    if code in (9, 10):  # the leaf's dates, or else an intermediate's (OpenSSL's words)
        add(_date_reason(leaf, now) or status_for_openssl_error(code, message))
    elif code in (62, 64):
        add(_host_reason(leaf, server_hostname))
    elif code == 18 or (code in (2, 19, 20, 21) and _is_self_signed(leaf)):
        add(STATUS_SELF_SIGNED)
    elif code in (2, 19, 20, 21):
        add(f"{STATUS_UNTRUSTED} (issuer {Certificate.from_x509(leaf).issuer}): {message}")
    else:
        add(status_for_openssl_error(code, message))
    # What else is wrong, each looked at apart: the dates, the chain without dates or name,
    # the name alone.
    dated = _date_reason(leaf, now)
    if dated:
        add(dated)
    chain_only = _openssl_check(chain, None, anchors, _NO_CHECK_TIME)
    if chain_only is not None:
        chain_code, chain_message = chain_only
        if chain_code == 18 or _is_self_signed(leaf):
            add(STATUS_SELF_SIGNED)
        elif chain_code in (2, 19, 20, 21):
            add(f"{STATUS_UNTRUSTED} (issuer {Certificate.from_x509(leaf).issuer}): {chain_message}")
    if _host_only_check(leaf, host) is not None:
        add(_host_reason(leaf, server_hostname))
    return "; ".join(reasons), reasons


_KINDS = (STATUS_EXPIRED, STATUS_NOT_YET_VALID, STATUS_SELF_SIGNED, STATUS_HOST_MISMATCH, STATUS_NO_SAN,
          STATUS_UNTRUSTED, STATUS_INVALID)


def _kind(reason: str) -> str:
    return next((kind for kind in _KINDS if reason.startswith(kind)), reason)


def _date_reason(leaf: x509.Certificate, now: _dt.datetime | None) -> str:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    if now < leaf.not_valid_before_utc:
        return f"{STATUS_NOT_YET_VALID} (valid from {format_date(leaf.not_valid_before_utc)})"
    if now > leaf.not_valid_after_utc:
        return f"{STATUS_EXPIRED} (expired {format_date(leaf.not_valid_after_utc)})"
    return ""


def _host_reason(leaf: x509.Certificate, server_hostname: str) -> str:
    if not _has_san(leaf):
        return (f"{STATUS_HOST_MISMATCH}: {STATUS_NO_SAN}, and host names are matched only against "
                f"subjectAltName (RFC 6125), not the common name")
    names = Certificate.from_x509(leaf).subject_alt_names
    return f"{STATUS_HOST_MISMATCH}: the certificate is for {names}, not {server_hostname}"
