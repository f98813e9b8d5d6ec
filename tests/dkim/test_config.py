"""DKIM through config() settings (smtpx.dkim.settings), for users of the reference API: the
settings make a signer that signs what SMTP and the pools send (dkimpy verifies what the real
aiosmtpd server stored); a bad value is an SMTPConfigError at config() time and leaves the
setting as it was; settings given only in part are an SMTPConfigError at send time, before
any connection; the dkim property, when set, wins."""
from __future__ import annotations

import atexit
import functools
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

import smtpx
from smtpx.dkim import DKIMSigner
from smtpx.errors import SMTPConfigError, SMTPInputError
from tests.dkim.test_signer import RSA_512_PEM, key, verify
from tests.servers.scripted_fixtures import server  # noqa: F401  (fixture)

RAW = b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: by config\r\n\r\nHello  there\r\n"


def pem(kind: str) -> str:
    return key(kind).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()).decode()


@functools.lru_cache(maxsize=None)
def key_file(kind: str) -> str:
    """A key file for the run (also used by tests/config, outside any test's tmp_path)."""
    folder = Path(tempfile.mkdtemp(prefix="smtpx-dkim-key-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / f"{kind}.pem"
    path.write_text(pem(kind))
    return str(path)


def good_value(name: str) -> str:
    """A value each DKIM* string setting accepts (also for tests/config's round trip)."""
    return {"DKIMDomain": "example.com", "DKIMSelector": "s2026", "DKIMPrivateKey": pem("ed25519"),
            "DKIMPrivateKeyFile": key_file("rsa2048"), "DKIMHeaders": "From:To:Subject",
            "DKIMCanonicalization": "simple/simple"}[name]


def client(srv, **props):
    return smtpx.SMTP(mail_server=srv.host, mail_port=srv.port, timeout=15, **props)


def test_settings_sign(server):
    smtp = client(server)
    smtp.config("DKIMDomain=example.com")
    smtp.config("DKIMSelector=rsa")
    smtp.config(f"DKIMPrivateKeyFile={key_file('rsa2048')}")
    smtp.send_raw("alice@example.com", ["bob@example.org"], RAW)
    rsa = DKIMSigner(domain="example.com", selector="rsa", private_key=key("rsa2048"))
    assert verify(server.messages[0].data, rsa)
    assert b"c=relaxed/relaxed;" in server.messages[0].data
    # every setting: PEM text, the header list, simple, oversigning, x=
    smtp = client(server, config={"DKIMDomain": "Example.COM", "DKIMSelector": "ed",
                                  "DKIMPrivateKey": pem("ed25519"), "DKIMHeaders": "from, subject ,to",
                                  "DKIMCanonicalization": "simple/simple", "DKIMOversignFrom": "yes",
                                  "DKIMExpire": "600"})
    assert isinstance(smtp.dkim, DKIMSigner) and smtp.config("DKIMExpire") == "600"
    smtp.send_raw("alice@example.com", ["bob@example.org"], RAW)
    data = server.messages[1].data
    ed = DKIMSigner(domain="example.com", selector="ed", private_key=key("ed25519"))
    assert verify(data, ed)
    assert re.search(rb"h=from:\s*subject:\s*to:\s*from;", data)
    assert b"c=simple/simple;" in data and b"d=example.com;" in data
    t, x = (int(re.search(rb"\b%s=(\d+)" % tag, data).group(1)) for tag in (b"t", b"x"))
    assert x == t + 600
    # cleared: unsigned again
    smtp.config("DKIMDomain=")
    smtp.config("DKIMSelector=")
    smtp.config("DKIMPrivateKey=")
    assert smtp.dkim is None
    smtp.send_raw("alice@example.com", ["bob@example.org"], RAW)
    assert server.messages[2].data == RAW


def test_send_and_pool_sign_from_settings(server):
    settings = ["DKIMDomain=example.com", "DKIMSelector=rsa", f"DKIMPrivateKeyFile={key_file('rsa2048')}"]
    rsa = DKIMSigner(domain="example.com", selector="rsa", private_key=key("rsa2048"))
    client(server, config=settings, from_="alice@example.com", send_to="bob@example.org", subject="props",
           message_text="composed\n").send()
    with smtpx.SMTPPool(2, mail_server=server.host, mail_port=server.port, timeout=15, config=settings) as pool:
        pool.send_batch([("alice@example.com", ["bob@example.org"], RAW)] * 3)
    assert len(server.messages) == 4
    assert all(verify(message.data, rsa) for message in server.messages)


def test_the_dkim_property_wins(server):
    ed = DKIMSigner(domain="example.com", selector="ed", private_key=key("ed25519"))
    smtp = client(server, config=["DKIMDomain=example.com", "DKIMSelector=rsa",
                                  f"DKIMPrivateKeyFile={key_file('rsa2048')}"])
    smtp.dkim = ed
    assert smtp.dkim is ed
    smtp.send_raw("alice@example.com", ["bob@example.org"], RAW)
    assert server.messages[0].data.count(b"DKIM-Signature") == 1 and verify(server.messages[0].data, ed)
    smtp.dkim = None  # back to the settings
    assert smtp.dkim.selector == "rsa"


@pytest.fixture
def short_key_file(tmp_path):
    path = tmp_path / "short.pem"
    path.write_text(RSA_512_PEM)
    return str(path)


BAD = [
    ("DKIMDomain", "exa mple.com", "DNS does not allow"),
    ("DKIMDomain", "-example.com", "DNS does not allow"),
    ("DKIMSelector", "s_1", "DNS does not allow"),
    ("DKIMPrivateKey", "not a key", "PEM text"),
    ("DKIMPrivateKey", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "does not parse"),
    ("DKIMPrivateKey", RSA_512_PEM, "512 bits"),
    ("DKIMPrivateKeyFile", "/nonexistent/dkim.pem", "cannot be read"),
    ("DKIMPrivateKeyFile", "{short}", "512 bits"),
    ("DKIMHeaders", "To:Subject", "must include From"),
    ("DKIMHeaders", "From:DKIM-Signature", "DKIM-Signature"),
    ("DKIMHeaders", "From:Bad;Name", "not a header field name"),
    ("DKIMCanonicalization", "fancy/relaxed", "expected simple or relaxed"),
    ("DKIMOversignFrom", "maybe", "DKIMOversignFrom"),
    ("DKIMExpire", "-1", "out of range"),
    ("DKIMExpire", "soon", "not valid"),
]


@pytest.mark.parametrize("name, value, words", BAD, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(BAD)])
def test_a_bad_value_is_refused_at_config_time(server, short_key_file, name, value, words):
    smtp = client(server)
    before = smtp.config(name)
    with pytest.raises(SMTPConfigError, match=re.escape(words)) as info:
        smtp.config(f"{name}={value.format(short=short_key_file)}")
    assert name in str(info.value) and "PRIVATE KEY" not in str(info.value)  # no key material
    assert isinstance(info.value, SMTPInputError) and isinstance(info.value, ValueError)
    assert smtp.config(name) == before
    assert server.commands == []


def test_settings_that_do_not_fit_together_are_refused_at_config_time(server):
    smtp = client(server)
    smtp.config(f"DKIMPrivateKeyFile={key_file('rsa2048')}")
    with pytest.raises(SMTPConfigError, match="one of them"):
        smtp.config(f"DKIMPrivateKey={pem('ed25519')}")
    assert smtp.config("DKIMPrivateKey") == ""
    smtp.config("DKIMDomain=" + ".".join(["a" * 60] * 4))  # 243 characters: a valid domain alone
    with pytest.raises(SMTPConfigError, match="longer than 253"):
        smtp.config("DKIMSelector=" + "s" * 20)
    assert smtp.config("DKIMSelector") == ""
    assert server.commands == []


def test_settings_given_in_part_fail_the_send_and_send_nothing(server):
    smtp = client(server, config=["DKIMDomain=example.com", "DKIMSelector=s1"])
    with pytest.raises(SMTPConfigError, match="DKIMPrivateKey missing"):
        smtp.send_raw("alice@example.com", ["bob@example.org"], RAW)
    smtp = client(server, config=[f"DKIMPrivateKeyFile={key_file('rsa2048')}"], from_="alice@example.com",
                  send_to="bob@example.org", message_text="x")
    with pytest.raises(SMTPConfigError, match="DKIMDomain and DKIMSelector missing"):
        smtp.send()
    assert server.messages == []
    assert "MAIL" not in server.verbs()


def test_async_signs_from_settings(server):
    import asyncio

    from smtpx.aio import AsyncSMTP

    async def main():
        smtp = AsyncSMTP(mail_server=server.host, mail_port=server.port, timeout=15,
                         config={"DKIMDomain": "example.com", "DKIMSelector": "ed", "DKIMPrivateKey": pem("ed25519")})
        await smtp.send_raw("alice@example.com", ["bob@example.org"], RAW)

    asyncio.run(asyncio.wait_for(main(), 30))
    [stored] = server.messages
    assert verify(stored.data, DKIMSigner(domain="example.com", selector="ed", private_key=key("ed25519")))
