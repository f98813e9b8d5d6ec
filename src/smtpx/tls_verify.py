"""Verification of the server's certificate chain with ``cryptography.x509.verification``,
with a distinct status for each kind of failure (why this design: see smtpx.tls)."""
from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import ssl
import threading
import warnings
from typing import Any

from cryptography import x509
from cryptography.x509 import verification as xv
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from .certificate import Certificate, format_date

__all__ = ["verify_server_chain", "system_roots", "STATUS_OK", "STATUS_EXPIRED", "STATUS_NOT_YET_VALID",
           "STATUS_SELF_SIGNED", "STATUS_HOST_MISMATCH", "STATUS_UNTRUSTED", "STATUS_NO_SAN",
           "STATUS_INVALID"]

# ----------------------------------------------------------------------------- verification
STATUS_OK = "OK"
STATUS_EXPIRED = "certificate has expired"
STATUS_NOT_YET_VALID = "certificate is not yet valid"
STATUS_SELF_SIGNED = "self-signed certificate"
STATUS_HOST_MISMATCH = "host name mismatch"
STATUS_NO_SAN = "certificate has no subjectAltName"
STATUS_UNTRUSTED = "unable to verify the certificate chain"
STATUS_INVALID = "invalid certificate"

_store_lock = threading.Lock()
_system_roots: dict[tuple[str, float], list[x509.Certificate]] = {}


def _parse_pem_bundle(data: bytes) -> list[x509.Certificate]:
    certs = []
    for block in data.split(b"-----END CERTIFICATE-----"):
        start = block.find(b"-----BEGIN CERTIFICATE-----")
        if start < 0:
            continue
        try:  # one odd root (negative serial, bad encoding) must not hide the others
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                certs.append(x509.load_pem_x509_certificate(block[start:] + b"-----END CERTIFICATE-----\n"))
        except ValueError:
            continue
    return certs


def system_roots() -> list[x509.Certificate]:
    """The system trust store (ssl.get_default_verify_paths()), parsed once per file version."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and os.path.isfile(candidate):
            key = (candidate, os.path.getmtime(candidate))
            with _store_lock:
                if key not in _system_roots:
                    with open(candidate, "rb") as handle:
                        _system_roots.clear()
                        _system_roots[key] = _parse_pem_bundle(handle.read())
                return _system_roots[key]
    roots: list[x509.Certificate] = []
    for directory in (paths.capath, paths.openssl_capath):
        if directory and os.path.isdir(directory):
            for name in sorted(os.listdir(directory)):
                full = os.path.join(directory, name)
                if os.path.isfile(full):
                    with open(full, "rb") as handle:
                        roots.extend(_parse_pem_bundle(handle.read()))
            break
    return roots


def _server_subject(host: str) -> Any:
    try:
        return xv.IPAddress(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        name = host.rstrip(".").lower()
        if not name.isascii():
            name = name.encode("idna").decode("ascii")  # internationalised names as A-labels
        return xv.DNSName(name)


def _eku_allows_server(policy: Any, cert: x509.Certificate, ext: Any) -> None:
    if ext is not None and ExtendedKeyUsageOID.SERVER_AUTH not in ext \
            and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in ext:
        raise ValueError("the certificate is not meant for TLS servers (extendedKeyUsage lacks serverAuth)")


def _server_policy() -> Any:
    """The CA/Browser Forum profile for CA certificates; for the server certificate the same,
    except that subjectAltName, extendedKeyUsage and keyUsage may be critical or not (private
    CAs, common for mail servers, and OpenSSL accept that). extendedKeyUsage, when present,
    must allow serverAuth."""
    agnostic = xv.Criticality.AGNOSTIC
    return (xv.ExtensionPolicy.webpki_defaults_ee()
            .require_present(x509.SubjectAlternativeName, agnostic, None)
            .may_be_present(x509.ExtendedKeyUsage, agnostic, _eku_allows_server)
            .may_be_present(x509.KeyUsage, agnostic, None))


def _try_verify(store: Any, when: _dt.datetime, subject: Any, leaf: x509.Certificate,
                intermediates: list[x509.Certificate]) -> str | None:
    try:
        verifier = (xv.PolicyBuilder().store(store).time(when)
                    .extension_policies(ca_policy=xv.ExtensionPolicy.webpki_defaults_ca(),
                                        ee_policy=_server_policy())
                    .build_server_verifier(subject))
        verifier.verify(leaf, intermediates)
        return None
    except xv.VerificationError as exc:
        return str(exc)


def _first_san(leaf: x509.Certificate) -> Any:
    try:
        san = leaf.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return None
    for name in san:
        if isinstance(name, x509.DNSName) and "*" not in name.value:
            return xv.DNSName(name.value)
        if isinstance(name, x509.DNSName):
            return xv.DNSName(name.value.replace("*", "wildcard", 1))
        if isinstance(name, x509.IPAddress):
            return xv.IPAddress(name.value)
    return None


def _is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
        return True
    except Exception:  # InvalidSignature, ValueError, TypeError: not signed by itself
        return False


def _host_matches(leaf: x509.Certificate, host: str) -> bool:
    """RFC 6125 matching against subjectAltName, for the diagnosis only (the verdict comes
    from cryptography's verifier): exact DNS names, a wildcard only as the whole left-most
    label, and IP addresses."""
    try:
        san = leaf.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return False
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    if address is not None:
        return address in san.get_values_for_type(x509.IPAddress)
    wanted = host.rstrip(".").lower().split(".")
    for pattern in san.get_values_for_type(x509.DNSName):
        labels = pattern.rstrip(".").lower().split(".")
        if len(labels) != len(wanted):
            continue
        if labels == wanted or (labels[0] == "*" and len(labels) > 2 and labels[1:] == wanted[1:]):
            return True
    return False


def verify_server_chain(chain: list[x509.Certificate], server_hostname: str, server_ca_certs: str = "",
                        use_system_trust: bool = True,
                        now: _dt.datetime | None = None) -> tuple[str, list[str]]:
    """Verify the server's chain (leaf first) for ``server_hostname``.

    Returns (status, reasons): status is "OK" or the reasons joined by "; ". Each reason
    starts with a ``STATUS_*`` phrase, so the kinds of failure stay distinct.
    """
    if not chain:
        return "no certificate from the server", ["no certificate from the server"]
    now = now or _dt.datetime.now(_dt.timezone.utc)
    leaf, intermediates = chain[0], chain[1:]
    roots = list(system_roots()) if use_system_trust else []
    if server_ca_certs.strip():
        roots.extend(_parse_pem_bundle(server_ca_certs.encode("ascii", "replace")))
    if not server_hostname:
        return (f"{STATUS_HOST_MISMATCH}: no host name to check the certificate against",
                [f"{STATUS_HOST_MISMATCH}: no host name to check the certificate against"])
    try:
        subject = _server_subject(server_hostname)
    except (ValueError, UnicodeError) as exc:
        reason = f"{STATUS_HOST_MISMATCH}: {server_hostname!r} is not a valid DNS name or IP address ({exc})"
        return reason, [reason]
    store = xv.Store(roots) if roots else None
    if store is not None and _try_verify(store, now, subject, leaf, intermediates) is None:
        return STATUS_OK, []

    reasons: list[str] = []
    if now < leaf.not_valid_before_utc:
        reasons.append(f"{STATUS_NOT_YET_VALID} (valid from {format_date(leaf.not_valid_before_utc)})")
    if now > leaf.not_valid_after_utc:
        reasons.append(f"{STATUS_EXPIRED} (expired {format_date(leaf.not_valid_after_utc)})")
    # The chain is checked apart from the name (for one of the leaf's own names), at a moment
    # when the leaf is valid, so that each problem is reported on its own.
    when = now if not reasons else (
        leaf.not_valid_before_utc + (leaf.not_valid_after_utc - leaf.not_valid_before_utc) / 2)
    own_name = _first_san(leaf)
    if own_name is None:
        reasons.append(f"{STATUS_NO_SAN}: host names are matched only against subjectAltName (RFC 6125)")
    if store is None:
        chain_error: str | None = "no trusted CA certificates are configured"
    elif own_name is not None:
        chain_error = _try_verify(store, when, own_name, leaf, intermediates)
    else:
        chain_error = None
    if _is_self_signed(leaf):
        reasons.append(STATUS_SELF_SIGNED)
    elif chain_error is not None:
        reasons.append(f"{STATUS_UNTRUSTED} (issuer {Certificate.from_x509(leaf).issuer}): {chain_error}")
    if own_name is not None and not _host_matches(leaf, server_hostname):
        cert = Certificate.from_x509(leaf)
        reasons.append(f"{STATUS_HOST_MISMATCH}: the certificate is for {cert.subject_alt_names}, "
                       f"not {server_hostname}")
    if not reasons:  # the verifier refused for a reason the checks above do not name
        detail = _try_verify(store, now, subject, leaf, intermediates) if store is not None else "no trust store"
        reasons.append(f"{STATUS_INVALID}: {detail}")
    return "; ".join(reasons), reasons


