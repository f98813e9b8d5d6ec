"""TLS through SyncStream.start_tls against a real TLS server on 127.0.0.1."""
from __future__ import annotations

import base64
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from smtpx import tls as T
from smtpx.tls.certificate import Certificate
from smtpx.enums import CertStoreType
from smtpx.errors import SMTPCertificateError, SMTPTLSError

from tests.servers.sockets import LoopbackServer, drain

from .helpers import Hooks, leaf_context, open_stream, roundtrip, server_context, trusting


def _connect(server, settings, host="localhost", hooks=None):
    stream = open_stream(server.port)
    stream.start_tls(settings, host, hooks)
    return stream


def test_trusted_certificate_negotiates_and_reports(pki, make_server):
    server = make_server(leaf_context(pki.good))
    hooks = Hooks(server=server)
    with _connect(server, trusting(pki), "localhost", hooks) as stream:
        assert roundtrip(stream, b"EHLO x\r\n") == b"EHLO x\r\n"
        info = stream.tls_info
    conn = server.wait_done()
    assert info.version == conn.version == "TLSv1.3"  # the default includes TLS 1.3
    assert info.cipher == conn.cipher[0]
    assert info.cipher_suite in T.TLS13_SUITES
    assert info.cipher_strength == conn.cipher[2]
    assert info.verify_status == "OK" and info.accepted_by == "verification"
    leaf = x509.load_pem_x509_certificate(pki.good.cert_chain_pems[0].bytes())
    assert info.server_cert.encoded_b == leaf.public_bytes(serialization.Encoding.DER)
    assert info.peer_chain[0].thumbprint_sha256 == info.server_cert.thumbprint_sha256
    event = hooks.events[0]
    assert event.accept is True and event.status == "OK"
    assert Certificate(event.cert_encoded).encoded_b == info.server_cert.encoded_b
    assert event.cert_subject == info.server_cert.subject and event.cert_issuer == info.server_cert.issuer
    assert hooks.server_had_data_at_verdict is False
    assert any("handshake complete" in s for s in hooks.statuses)


def test_ip_address_host_is_verified(pki, make_server):
    server = make_server(leaf_context(pki.good))
    with _connect(server, trusting(pki), "127.0.0.1") as stream:
        assert stream.tls_info.verify_status == "OK"


@pytest.mark.parametrize("case, expected, absent", [
    ("untrusted", T.STATUS_UNTRUSTED, (T.STATUS_EXPIRED, T.STATUS_HOST_MISMATCH, T.STATUS_SELF_SIGNED)),
    ("expired", T.STATUS_EXPIRED, (T.STATUS_UNTRUSTED, T.STATUS_HOST_MISMATCH, T.STATUS_NOT_YET_VALID)),
    ("not_yet_valid", T.STATUS_NOT_YET_VALID, (T.STATUS_UNTRUSTED, T.STATUS_HOST_MISMATCH, T.STATUS_EXPIRED)),
    ("wrong_host", T.STATUS_HOST_MISMATCH, (T.STATUS_UNTRUSTED, T.STATUS_EXPIRED, T.STATUS_SELF_SIGNED)),
    ("self_signed", T.STATUS_SELF_SIGNED, (T.STATUS_EXPIRED, T.STATUS_HOST_MISMATCH, T.STATUS_UNTRUSTED)),
])
def test_each_failure_is_refused_with_its_own_status(pki, make_server, case, expected, absent):
    if case == "self_signed":
        ctx = server_context(*pki.self_signed)
    else:
        ctx = leaf_context(getattr(pki, case))
    server = make_server(ctx)
    hooks = Hooks(server=server)
    with pytest.raises(SMTPCertificateError) as info:
        _connect(server, trusting(pki), "localhost", hooks)
    err = info.value
    assert err.code == 280
    assert err.status.startswith(expected), err.status
    for other in absent:
        assert other not in err.status
    assert len(hooks.events) == 1 and hooks.events[0].accept is False
    assert hooks.events[0].status == err.status
    conn = server.wait_done()
    assert bytes(conn.received) == b""  # nothing was written after the refusal


def test_verification_is_on_by_default_without_any_settings(pki, make_server):
    server = make_server(leaf_context(pki.good))  # trustme's CA is not in the system store
    with pytest.raises(SMTPCertificateError) as info:
        _connect(server, T.TLSSettings(), "localhost")
    assert T.STATUS_UNTRUSTED in info.value.status


def test_handler_can_accept_a_refused_certificate(pki, make_server):
    server = make_server(server_context(*pki.self_signed))
    hooks = Hooks(decide=lambda event: True, server=server)
    with _connect(server, trusting(pki), "localhost", hooks) as stream:
        assert hooks.events[0].accept is False
        assert hooks.server_had_data_at_verdict is False
        assert roundtrip(stream) == b"NOOP\r\n"
        assert stream.tls_info.accepted_by == "handler"
        assert stream.tls_info.verify_status.startswith(T.STATUS_SELF_SIGNED)


def test_handler_can_refuse_a_valid_certificate(pki, make_server):
    server = make_server(leaf_context(pki.good))
    with pytest.raises(SMTPCertificateError):
        _connect(server, trusting(pki), "localhost", Hooks(decide=lambda event: False))


def test_accept_server_cert_pins_exactly_that_certificate(pki, make_server):
    cert_pem, _key = pki.self_signed
    server = make_server(server_context(*pki.self_signed))
    hooks = Hooks()
    settings = trusting(pki, accept_server_cert=Certificate(cert_pem))
    with _connect(server, settings, "localhost", hooks) as stream:
        assert stream.tls_info.accepted_by == "ssl_accept_server_cert"
        assert roundtrip(stream) == b"NOOP\r\n"
    assert hooks.events[0].accept is True and hooks.events[0].status.startswith("OK")

    # A pin for another certificate does not accept this one.
    settings = trusting(pki, accept_server_cert=Certificate(pki.good.cert_chain_pems[0].bytes()))
    with pytest.raises(SMTPCertificateError) as info:
        _connect(server, settings, "localhost")
    assert info.value.status.startswith(T.STATUS_SELF_SIGNED)


def test_include_cert_chain_puts_every_certificate_in_the_event(pki, make_server):
    server = make_server(leaf_context(pki.intermediate_leaf))
    plain, chained = Hooks(), Hooks()
    with _connect(server, trusting(pki), "localhost", plain) as stream:
        assert len(stream.tls_info.peer_chain) == 2
    with _connect(server, trusting(pki, include_cert_chain=True), "localhost", chained):
        pass
    assert plain.events[0].cert_encoded.count(b"BEGIN CERTIFICATE") == 1
    assert chained.events[0].cert_encoded.count(b"BEGIN CERTIFICATE") == 2


# ----------------------------------------------------------------------------- client certificates
def _client_ctx(pki):
    return leaf_context(pki.good, client_ca=pki.client_ca)


def _client_pfx(pki, password: bytes) -> bytes:
    from cryptography.hazmat.primitives.serialization import pkcs12

    key = serialization.load_pem_private_key(pki.client.private_key_pem.bytes(), None)
    cert = x509.load_pem_x509_certificate(pki.client.cert_chain_pems[0].bytes())
    return pkcs12.serialize_key_and_certificates(b"client", key, cert, None,
                                                  serialization.BestAvailableEncryption(password))


@pytest.mark.parametrize("form", ["pem_file", "pem_blob", "pfx_file", "pfx_blob", "pfx_base64"])
def test_client_certificate_forms(pki, make_server, tmp_path, form):
    if form.startswith("pem"):
        blob = pki.client.private_key_and_cert_chain_pem.bytes()
        if form == "pem_file":
            path = tmp_path / "client.pem"
            path.write_bytes(blob)
            cert = Certificate(CertStoreType.PEM_KEY_FILE, str(path), "", "")
        else:
            cert = Certificate(CertStoreType.PEM_KEY_BLOB, blob, "", "*")
    else:
        blob = _client_pfx(pki, b"s3cret")
        if form == "pfx_file":
            path = tmp_path / "client.pfx"
            path.write_bytes(blob)
            cert = Certificate(CertStoreType.PFX_FILE, str(path), "s3cret", "smtpx test client")
        elif form == "pfx_blob":
            cert = Certificate(CertStoreType.PFX_BLOB, blob, "s3cret", "")
        else:
            cert = Certificate(CertStoreType.PFX_BLOB, base64.b64encode(blob), "s3cret", "")
    assert cert.private_key_available
    server = make_server(_client_ctx(pki))
    with _connect(server, trusting(pki, client_cert=cert)) as stream:
        assert roundtrip(stream) == b"NOOP\r\n"
    conn = server.wait_done()
    subject = dict(item for rdn in conn.peer_cert["subject"] for item in rdn)
    assert subject["commonName"] == "smtpx test client"


def test_server_requiring_a_client_certificate_refuses_us_without_one(pki, make_server):
    server = make_server(_client_ctx(pki))
    with pytest.raises(SMTPTLSError) as info:
        stream = _connect(server, trusting(pki))
        # TLS 1.3: the server's refusal arrives after our side of the handshake finished
        stream.write(b"NOOP\r\n")
        while stream.read():
            pass
    assert info.value.code == 281


def test_der_certificate_without_key_cannot_be_a_client_certificate(pki, make_server, tmp_path):
    der = x509.load_pem_x509_certificate(pki.client.cert_chain_pems[0].bytes()).public_bytes(
        serialization.Encoding.DER)
    path = tmp_path / "client.der"
    path.write_bytes(der)
    cert = Certificate.from_file(path)
    assert cert.encoded_b == der and not cert.private_key_available
    server = make_server(_client_ctx(pki))
    with pytest.raises(SMTPTLSError) as info:
        _connect(server, trusting(pki, client_cert=cert))
    assert info.value.code == 273


# ----------------------------------------------------------------------------- protocols and ciphers
def test_tls12_only_mask_negotiates_tls12(pki, make_server):
    server = make_server(leaf_context(pki.good))
    with _connect(server, trusting(pki, enabled_protocols=3072)) as stream:
        assert stream.tls_info.version == "TLSv1.2"
        assert stream.tls_info.cipher_suite.startswith("TLS_ECDHE_ECDSA_")
        assert stream.tls_info.key_exchange == "ECDHE"


def test_reference_default_4032_means_tls12_here(pki, make_server):
    server = make_server(leaf_context(pki.good))
    with _connect(server, trusting(pki, enabled_protocols=4032)) as stream:
        assert stream.tls_info.version == "TLSv1.2"


def test_no_common_version_is_a_clear_tls_error(pki, make_server):
    server = make_server(leaf_context(pki.good, max_version=ssl.TLSVersion.TLSv1_2))
    with pytest.raises(SMTPTLSError) as info:
        _connect(server, trusting(pki, enabled_protocols=12288))
    assert info.value.code == 276 and "version" in info.value.description


def test_cipher_suite_by_iana_name_is_negotiated(pki, make_server):
    server = make_server(leaf_context(pki.good))
    wanted = "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
    with _connect(server, trusting(pki, cipher_suites=wanted)) as stream:
        info = stream.tls_info
    assert info.version == "TLSv1.2"  # no TLS 1.3 suite listed: TLS 1.3 is off
    assert info.cipher_suite == wanted and info.cipher == "ECDHE-ECDSA-AES256-GCM-SHA384"
    assert info.cipher_strength == 256
    assert server.wait_done().cipher[0] == "ECDHE-ECDSA-AES256-GCM-SHA384"


def test_reference_ssl_prefix_and_tls13_suites(pki, make_server):
    server = make_server(leaf_context(pki.good))
    suites = "SSL_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256; " + "; ".join(T.TLS13_SUITES)
    with _connect(server, trusting(pki, cipher_suites=suites)) as stream:
        assert stream.tls_info.version == "TLSv1.3"


def test_key_log_file_is_written(pki, make_server, tmp_path):
    path = tmp_path / "keys.log"
    server = make_server(leaf_context(pki.good))
    with _connect(server, trusting(pki, key_log_file=str(path))) as stream:
        roundtrip(stream)
    assert b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" in path.read_bytes()


# ----------------------------------------------------------------------------- faults
def test_bytes_before_the_handshake_are_refused(pki, make_server):
    import time

    server = make_server(leaf_context(pki.good), before=b"250 injected\r\n")
    stream = open_stream(server.port)
    time.sleep(0.2)  # let the injected bytes arrive (this is a precondition, not a timing check)
    with pytest.raises(SMTPTLSError) as info:
        stream.start_tls(trusting(pki), "localhost")
    assert "before the TLS handshake" in info.value.description
    assert stream.closed


def test_server_closing_during_handshake(pki, make_server):
    server = make_server(None)  # accepts, then closes without TLS
    stream = open_stream(server.port)
    with pytest.raises(SMTPTLSError) as info:
        stream.start_tls(trusting(pki), "localhost")
    assert info.value.code == 276


# ----------------------------------------------------------------------------- session reuse, waits
def test_session_is_resumed_with_the_same_context(pki, make_server):
    server = make_server(leaf_context(pki.good))
    settings = trusting(pki)
    with _connect(server, settings) as first:
        roundtrip(first)  # the TLS 1.3 ticket arrives with the first read
        session, context = first.tls_session, first.tls_info.context
        assert not first.tls_info.session_reused
    assert session is not None
    again = trusting(pki, session=session, context=context)
    with _connect(server, again) as second:
        assert second.tls_info.session_reused
        assert second.tls_info.verify_status == "OK"  # verified again all the same
        roundtrip(second)
    # what the facade keeps: TLSInfo.session, brought up to date by close()
    latest = second.tls_info
    with _connect(server, trusting(pki, session=latest.session, context=latest.context)) as third:
        assert third.tls_info.session_reused


def test_handshake_with_a_silent_server_times_out(pki):
    from smtpx.errors import SMTPTimeoutError

    with LoopbackServer(drain) as silent:  # accepts, never says a word
        stream = open_stream(silent.port, timeout=0.3)
        with pytest.raises(SMTPTimeoutError):
            stream.start_tls(trusting(pki), "localhost")
        assert stream.closed


def test_handshake_can_be_interrupted(pki):
    import threading

    from smtpx.errors import SMTPInterrupted

    with LoopbackServer(drain) as silent:
        stream = open_stream(silent.port, timeout=0)
        threading.Timer(0.2, stream.interrupt).start()
        with pytest.raises(SMTPInterrupted):
            stream.start_tls(trusting(pki), "localhost")


def test_large_write_over_tls_arrives_intact(pki, make_server):
    import hashlib
    import os

    payload = os.urandom(3 << 20)
    server = make_server(leaf_context(pki.good), echo=False, ack_after=len(payload))
    with _connect(server, trusting(pki)) as stream:
        stream.write(payload)
        assert roundtrip(stream, b"") == b"ACK\n"  # like the reply to the final dot
    conn = server.wait_done()
    assert hashlib.sha256(conn.received).digest() == hashlib.sha256(payload).digest()


@pytest.mark.parametrize("protocols, curve, group, bits", [
    (12288, "prime256v1", "secp256r1", 256),
    (12288, "secp384r1", "secp384r1", 384),
    (3072, "secp384r1", "secp384r1", 384),
    (3072, "prime256v1", "secp256r1", 256),
])
def test_key_exchange_group_and_strength(pki, make_server, protocols, curve, group, bits):
    ctx = leaf_context(pki.good)
    ctx.set_ecdh_curve(curve)  # the server allows only this group
    server = make_server(ctx)
    with _connect(server, trusting(pki, enabled_protocols=protocols)) as stream:
        info = stream.tls_info
    assert info.key_exchange == "ECDHE"
    assert info.key_exchange_group == group and info.key_exchange_strength == bits


def test_log_ssl_packets_reports_tls_messages(pki, make_server):
    server = make_server(leaf_context(pki.good))
    quiet, loud = Hooks(), Hooks()
    with _connect(server, trusting(pki), hooks=quiet):
        pass
    with _connect(server, trusting(pki, log_ssl_packets=True), hooks=loud):
        pass
    assert not any("SERVER_HELLO" in s for s in quiet.statuses)
    assert any("read" in s and "SERVER_HELLO" in s for s in loud.statuses)
    assert any("write" in s and "CLIENT_HELLO" in s for s in loud.statuses)


def test_throttled_write_over_tls_arrives_intact(pki, make_server):
    import hashlib
    import os
    import socket

    from smtpx.transport.stream import SyncStream

    payload = os.urandom(200_000)
    server = make_server(leaf_context(pki.good), echo=False, ack_after=len(payload))
    stream = SyncStream(socket.create_connection(("127.0.0.1", server.port)), 5, max_transfer_rate=2_000_000)
    with stream:
        stream.start_tls(trusting(pki), "localhost")
        stream.write(payload)
        assert roundtrip(stream, b"") == b"ACK\n"
    assert hashlib.sha256(server.wait_done().received).digest() == hashlib.sha256(payload).digest()


def test_starttls_after_a_plaintext_greeting(pki, make_server):
    server = make_server(leaf_context(pki.good), before=b"220 ready for TLS\r\n")
    stream = open_stream(server.port)
    greeting = b""
    while not greeting.endswith(b"\n"):
        greeting += stream.read()
    assert greeting == b"220 ready for TLS\r\n"
    stream.start_tls(trusting(pki), "localhost")
    with stream:
        assert stream.is_tls and roundtrip(stream, b"EHLO again\r\n") == b"EHLO again\r\n"
