"""Differential test (FAULTS 41): with the same trust anchors, smtpx accepts exactly the chains
that OpenSSL's own verification accepts (``ssl.create_default_context`` with check_hostname, on
this Python) and refuses the ones it refuses, each against a real TLS server on 127.0.0.1.

Every row also states the verdict we expect, so that smtpx and OpenSSL agreeing on a wrong
answer would fail too, and for refusals the kind of status smtpx reports."""
from __future__ import annotations

import datetime as dt
import socket
import ssl
from dataclasses import dataclass

import pytest
import trustme

from smtpx import tls as T
from smtpx.errors import SMTPCertificateError
from smtpx.tls import TLSSettings

from .helpers import open_stream, self_signed, server_context
from .openssl_pki import make_openssl_pki

UTC = dt.timezone.utc


@dataclass
class Row:
    chain: bytes       # what the server sends, in this order
    key: bytes
    ca: bytes          # the trust anchor given to both clients
    host: str
    accepted: bool | None  # what OpenSSL is expected to say (None: it depends on this Python)
    status: str = ""       # for refusals: the STATUS_* phrase smtpx must start with


def _pem(*blobs) -> bytes:
    return b"".join(blob.bytes() for blob in blobs)


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> dict[str, Row]:
    op = make_openssl_pki(tmp_path_factory.mktemp("openssl-pki"))
    op_ca = op.ca_pem.read_bytes()
    ca = trustme.CA()
    now = dt.datetime.now(UTC)
    good = ca.issue_cert("localhost", "mail.example.test", "127.0.0.1")
    child = ca.create_child_ca()
    grandchild = child.create_child_ca()
    deep = grandchild.issue_cert("localhost")
    wildcard = ca.issue_cert("*.example.test")
    dns_only = ca.issue_cert("localhost")
    expired = ca.issue_cert("localhost", not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1))
    future = ca.issue_cert("localhost", not_before=now + dt.timedelta(days=1), not_after=now + dt.timedelta(days=30))
    other = trustme.CA().issue_cert("localhost")
    own_cert, own_key = self_signed(("localhost", "127.0.0.1"))
    ca_pem = ca.cert_pem.bytes()
    leaf = _pem(*good.cert_chain_pems)
    key = good.private_key_pem.bytes()
    return {
        "openssl CA without keyUsage": Row(op.leaf_chain.read_bytes(), op.leaf_key.read_bytes(), op_ca, "localhost", True),
        "openssl CA, IP address": Row(op.leaf_chain.read_bytes(), op.leaf_key.read_bytes(), op_ca, "127.0.0.1", True),
        # Whether the common name counts is ssl's hostname_checks_common_name on this Python:
        # OpenSSL decides.
        "openssl CN-only certificate, no SAN": Row(op.cn_only_chain.read_bytes(), op.cn_only_key.read_bytes(), op_ca,
                                                   "localhost", None),
        "openssl self-signed server, trusted itself": Row(op.self_signed.read_bytes(), op.self_signed_key.read_bytes(),
                                                          op.self_signed.read_bytes(), "localhost", True),
        "CA with keyUsage": Row(leaf, key, ca_pem, "localhost", True),
        "IP address SAN": Row(leaf, key, ca_pem, "127.0.0.1", True),
        "IP address not in SAN": Row(_pem(*dns_only.cert_chain_pems), dns_only.private_key_pem.bytes(), ca_pem,
                                     "127.0.0.1", False, T.STATUS_HOST_MISMATCH),
        "two intermediates": Row(_pem(*deep.cert_chain_pems), deep.private_key_pem.bytes(), ca_pem, "localhost", True),
        "intermediates out of order": Row(
            _pem(deep.cert_chain_pems[0], deep.cert_chain_pems[2], deep.cert_chain_pems[1]),
            deep.private_key_pem.bytes(), ca_pem, "localhost", True),
        "intermediate missing": Row(_pem(deep.cert_chain_pems[0], deep.cert_chain_pems[2]),
                                    deep.private_key_pem.bytes(), ca_pem, "localhost", False, T.STATUS_UNTRUSTED),
        "wrong host": Row(leaf, key, ca_pem, "other.example.org", False, T.STATUS_HOST_MISMATCH),
        "wildcard": Row(_pem(*wildcard.cert_chain_pems), wildcard.private_key_pem.bytes(), ca_pem,
                        "mail.example.test", True),
        "wildcard, two labels deep": Row(_pem(*wildcard.cert_chain_pems), wildcard.private_key_pem.bytes(), ca_pem,
                                         "a.mail.example.test", False, T.STATUS_HOST_MISMATCH),
        "expired": Row(_pem(*expired.cert_chain_pems), expired.private_key_pem.bytes(), ca_pem, "localhost",
                       False, T.STATUS_EXPIRED),
        "not yet valid": Row(_pem(*future.cert_chain_pems), future.private_key_pem.bytes(), ca_pem, "localhost",
                             False, T.STATUS_NOT_YET_VALID),
        "self-signed leaf": Row(own_cert, own_key, ca_pem, "localhost", False, T.STATUS_SELF_SIGNED),
        "untrusted CA": Row(_pem(*other.cert_chain_pems), other.private_key_pem.bytes(), ca_pem, "localhost",
                            False, T.STATUS_UNTRUSTED),
        "trusted CA of another chain": Row(op.leaf_chain.read_bytes(), op.leaf_key.read_bytes(), ca_pem, "localhost",
                                           False, T.STATUS_UNTRUSTED),
    }


def _openssl_accepts(port: int, ca_file: str, host: str, strict: bool = False) -> bool:
    """The reference: OpenSSL's verification as ssl.create_default_context(cafile=...) sets it
    up, plus the platform's store, which smtpx trusts as well. Python 3.13 adds X509_STRICT to
    create_default_context; OpenSSL's own rules (openssl verify, Postfix) do not have it, and
    smtpx follows them (docs/tls.md), so the reference leaves it out unless ``strict``."""
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.load_default_certs()
    if not strict:
        ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            with ctx.wrap_socket(sock, server_hostname=host):
                return True
        except ssl.SSLCertVerificationError:
            return False


def _smtpx_verdict(port: int, ca_file: str, host: str) -> tuple[bool, str]:
    stream = open_stream(port)
    try:
        stream.start_tls(TLSSettings(server_ca_certs=ca_file), host)
    except SMTPCertificateError as exc:
        return False, exc.status
    status = stream.tls_info.verify_status
    stream.close()
    return True, status


ROW_IDS = [
    "openssl CA without keyUsage", "openssl CA, IP address", "openssl CN-only certificate, no SAN",
    "openssl self-signed server, trusted itself", "CA with keyUsage", "IP address SAN", "IP address not in SAN",
    "two intermediates", "intermediates out of order", "intermediate missing", "wrong host", "wildcard",
    "wildcard, two labels deep", "expired", "not yet valid", "self-signed leaf", "untrusted CA",
    "trusted CA of another chain",
]


@pytest.mark.parametrize("name", ROW_IDS)
def test_smtpx_verdict_equals_openssl(rows, name, make_server, tmp_path):
    row = rows[name]
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(row.ca)
    server = make_server(server_context(row.chain, row.key))
    expected_by_openssl = _openssl_accepts(server.port, str(ca_file), row.host)
    accepted, status = _smtpx_verdict(server.port, str(ca_file), row.host)
    assert accepted == expected_by_openssl, f"{name}: smtpx {accepted} ({status}), OpenSSL {expected_by_openssl}"
    if row.accepted is not None:
        assert expected_by_openssl == row.accepted, f"{name}: OpenSSL itself said {expected_by_openssl}"
    if accepted:
        assert status == T.STATUS_OK
    else:
        assert status.startswith(row.status), status


def test_every_row_is_listed(rows):
    assert sorted(rows) == sorted(ROW_IDS)


def test_python_313_strict_default_refuses_what_openssl_accepts(rows, make_server, tmp_path):
    """The one deliberate difference from create_default_context (docs/tls.md): where this
    Python's default context sets X509_STRICT (3.13+), it refuses the openssl-made CA without
    keyUsage; OpenSSL's own rules and smtpx accept it on every Python."""
    row = rows["openssl CA without keyUsage"]
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(row.ca)
    server = make_server(server_context(row.chain, row.key))
    strict_default = bool(ssl.create_default_context().verify_flags & ssl.VERIFY_X509_STRICT)
    assert _openssl_accepts(server.port, str(ca_file), row.host, strict=True) is (not strict_default)
    assert _openssl_accepts(server.port, str(ca_file), row.host) is True
    assert _smtpx_verdict(server.port, str(ca_file), row.host) == (True, T.STATUS_OK)
