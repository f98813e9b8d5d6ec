"""Trusting a private CA the way Python users do (issue 8.1, FAULTS 41): a CA made by the
``openssl`` command line with its defaults (no keyUsage), given to smtpx as a file path, a
folder, PEM text or the user's own ssl.SSLContext, before connecting (config= in the
constructor), over STARTTLS and implicit TLS, sync, asyncio and the command line; and a wrong
setting refused at once with nothing sent."""
from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
import sys

import pytest
import trustme

import smtpx
from smtpx.aio import AsyncSMTP
from smtpx.enums import SSLStartMode
from smtpx.errors import SMTPCertificateError, SMTPConfigError

from tests.servers.scripted import ScriptedServer
from tests.tls.openssl_pki import OpenSSLPKI, make_openssl_pki


@pytest.fixture(scope="module")
def company(tmp_path_factory) -> OpenSSLPKI:
    return make_openssl_pki(tmp_path_factory.mktemp("company-ca"))


@pytest.fixture(scope="module")
def server_ctx(company) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(company.leaf_chain, company.leaf_key)
    return ctx


def _smtp(srv, **props) -> smtpx.SMTP:
    return smtpx.SMTP(mail_server="127.0.0.1", mail_port=srv.port, from_="a@example.com",
                      send_to="b@example.com", subject="private CA", message_text="hello\r\n", **props)


def test_the_company_ca_has_no_key_usage(company):
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(company.ca_pem.read_bytes())
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.KeyUsage)


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit"])
def test_ca_file_in_the_constructor_config(company, server_ctx, implicit):
    mode = SSLStartMode.IMPLICIT if implicit else SSLStartMode.EXPLICIT
    with ScriptedServer(tls_context=server_ctx, implicit_tls=implicit, require_starttls=not implicit) as srv:
        with _smtp(srv, ssl_start_mode=mode, config={"SSLServerCACerts": str(company.ca_pem)}) as smtp:
            smtp.send()
            assert "Example Company Root CA" in smtp.ssl_server_cert.issuer
        assert len(srv.messages) == 1 and b"hello" in srv.messages[0].data


def test_ca_folder_and_pem_text_and_config_strings(company, server_ctx, tmp_path):
    folder = tmp_path / "cas"
    folder.mkdir()
    shutil.copy(company.ca_pem, folder / "company.crt")
    (folder / "README").write_text("not a certificate\n")
    for value in (str(folder), company.ca_text()):
        with ScriptedServer(tls_context=server_ctx, require_starttls=True) as srv:
            with _smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT, config={"SSLServerCACerts": value}) as smtp:
                smtp.send()
            assert len(srv.messages) == 1
    with ScriptedServer(tls_context=server_ctx, require_starttls=True) as srv:
        with _smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT,
                   config=["SSLServerCACerts=" + str(company.ca_pem), "AllowPlaintextAuth=False"]) as smtp:
            smtp.send()
        assert len(srv.messages) == 1


def test_without_the_ca_the_platform_store_does_not_trust_it(server_ctx):
    with ScriptedServer(tls_context=server_ctx, require_starttls=True) as srv:
        smtp = _smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT)
        with pytest.raises(SMTPCertificateError) as info:
            smtp.send()
        assert info.value.code == 280 and "unable to verify" in info.value.status
        assert "MAIL" not in srv.verbs()


def test_users_own_verifying_ssl_context(company, server_ctx):
    ctx = ssl.create_default_context(cafile=str(company.ca_pem))
    # The user's context decides; on Python 3.13+ create_default_context sets X509_STRICT,
    # which refuses a CA without keyUsage, so a user trusting such a CA clears it (docs/tls.md).
    ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
    with ScriptedServer(tls_context=server_ctx, require_starttls=True) as srv:
        with _smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT, ssl_context=ctx) as smtp:
            smtp.send()
        assert len(srv.messages) == 1
    wrong = ssl.create_default_context(cadata=trustme.CA().cert_pem.bytes().decode())
    seen = []
    with ScriptedServer(tls_context=server_ctx, require_starttls=True) as srv:
        smtp = _smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT, ssl_context=wrong,
                     on_ssl_server_authentication=lambda e: (seen.append(e), setattr(e, "accept", True)))
        with pytest.raises(SMTPCertificateError) as info:
            smtp.send()
        # OpenSSL refused in the handshake: its verdict is final, no handler is asked.
        assert info.value.code == 280 and info.value.status.startswith("unable to verify")
        assert seen == [] and "MAIL" not in srv.verbs()


def test_users_non_verifying_context_leaves_verification_to_smtpx(company, server_ctx):
    lax = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    lax.check_hostname = False
    lax.verify_mode = ssl.CERT_NONE
    with ScriptedServer(tls_context=server_ctx, require_starttls=True) as srv:
        smtp = _smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT, ssl_context=lax)
        with pytest.raises(SMTPCertificateError):
            smtp.send()
        assert "MAIL" not in srv.verbs()
    with ScriptedServer(tls_context=server_ctx, require_starttls=True) as srv:
        with _smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT, ssl_context=lax,
                   config={"SSLServerCACerts": str(company.ca_pem)}) as smtp:
            smtp.send()
        assert len(srv.messages) == 1


def test_ssl_context_must_be_an_ssl_context():
    with pytest.raises(ValueError):
        smtpx.SMTP(ssl_context="/etc/ssl/certs")


@pytest.mark.parametrize("value, words", [
    ("/nonexistent/company-ca.pem", "no such file or folder"),
    ("company-ca.pem", "no such file or folder"),
    ("certainly not a certificate", "neither PEM certificates nor"),
    ("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n", "cannot load"),
    ("-----BEGIN PRIVATE KEY-----\nbm90IGEgY2VydA==\n-----END PRIVATE KEY-----\n", "no CERTIFICATE block"),
])
def test_a_wrong_setting_is_an_error_at_once(value, words):
    with pytest.raises(SMTPConfigError) as info:
        smtpx.SMTP(config={"SSLServerCACerts": value})
    assert words in str(info.value)
    smtp = smtpx.SMTP()
    with pytest.raises(SMTPConfigError):
        smtp.config("SSLServerCACerts=" + value)
    assert smtp.config("SSLServerCACerts") == ""


def test_an_empty_folder_or_a_file_without_certificates_is_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here\n")
    for value in (str(tmp_path), str(tmp_path / "notes.txt")):
        with pytest.raises(SMTPConfigError, match="holds no PEM certificate"):
            smtpx.SMTP(config={"SSLServerCACerts": value})


def test_async_smtp_with_the_company_ca(company, server_ctx):
    with ScriptedServer(tls_context=server_ctx, require_starttls=True) as srv:
        async def go():
            async with AsyncSMTP(mail_server="127.0.0.1", mail_port=srv.port, from_="a@example.com",
                                 send_to="b@example.com", message_text="hi\r\n",
                                 ssl_start_mode=SSLStartMode.EXPLICIT,
                                 config={"SSLServerCACerts": str(company.ca_pem)}) as smtp:
                await smtp.send()
        asyncio.run(go())
        assert len(srv.messages) == 1
    with ScriptedServer(tls_context=server_ctx, require_starttls=True) as srv:
        async def refused():
            smtp = AsyncSMTP(mail_server="127.0.0.1", mail_port=srv.port, from_="a@example.com",
                             send_to="b@example.com", ssl_start_mode=SSLStartMode.EXPLICIT,
                             ssl_context=ssl.create_default_context(cadata=trustme.CA().cert_pem.bytes().decode()))
            await smtp.send()
        with pytest.raises(SMTPCertificateError):
            asyncio.run(refused())
        assert "MAIL" not in srv.verbs()


def test_cli_ca_file_with_the_company_ca(company, server_ctx):
    with ScriptedServer(tls_context=server_ctx, require_starttls=True) as srv:
        done = subprocess.run(
            [sys.executable, "-m", "smtpx", "send", "--server", "127.0.0.1", "--port", str(srv.port),
             "--from", "a@example.com", "--to", "b@example.com", "--tls", "starttls",
             "--ca-file", str(company.ca_pem), "--body", "via the CLI"],
            capture_output=True, text=True, timeout=60, env={k: v for k, v in os.environ.items()})
        assert done.returncode == 0, done.stderr
        assert len(srv.messages) == 1
        missing = subprocess.run(
            [sys.executable, "-m", "smtpx", "send", "--server", "127.0.0.1", "--port", str(srv.port),
             "--from", "a@example.com", "--to", "b@example.com", "--tls", "starttls",
             "--ca-file", str(company.folder / "missing.pem"), "--body", "x"],
            capture_output=True, text=True, timeout=60)
        assert missing.returncode != 0 and "no such file or folder" in missing.stderr
        assert len(srv.messages) == 1
