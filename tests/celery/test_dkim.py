"""DKIM in the Celery tasks: signers configured in the app's config (``app.conf.smtpx["dkim"]``,
mappings with key files, as a config file would hold them), made in each worker process; the
messages travel through the broker unsigned and are signed when sent; dkimpy verifies every
signature on what the real server stored; a message the signer refuses (no From) fails alone.
A wrong setting is an SMTPConfigError naming it."""
from __future__ import annotations

import base64
import json
import re
from email.message import EmailMessage

import pytest
from celery import Celery
from cryptography.hazmat.primitives import serialization

import smtpx.celery
from smtpx.dkim import DKIMSigner
from smtpx.errors import SMTPConfigError
from tests.celery.conftest import make_cluster
from tests.dkim.test_signer import key, verify
from tests.servers.scripted import ScriptedServer

DOMAIN = "example.com"


def _pem(kind: str, path) -> str:
    path.write_bytes(key(kind).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    return str(path)


def _conf(dkim) -> object:
    app = Celery("dkim-settings", broker="redis://127.0.0.1:1/0", set_as_current=False)
    app.conf.smtpx = {"mail_server": "mx.example.com", "dkim": dkim}
    return app.conf


def test_the_dkim_setting_makes_signers_or_says_what_is_wrong(tmp_path):
    rsa = _pem("rsa2048", tmp_path / "rsa.pem")
    settings = smtpx.celery.settings_of(_conf({"domain": DOMAIN, "selector": "s1", "private_key": rsa}))
    signer = settings.pool["dkim"]
    assert isinstance(signer, DKIMSigner) and signer.selector == "s1" and signer.algorithm == "rsa-sha256"
    made = DKIMSigner(domain=DOMAIN, selector="s2", private_key=key("ed25519"))
    assert smtpx.celery.settings_of(_conf([made, {"domain": DOMAIN, "selector": "s1", "private_key": rsa}])
                                    ).pool["dkim"][0] is made
    assert "dkim" not in smtpx.celery.settings_of(_conf(None)).pool
    secret = open(rsa).read()
    for bad, says in [({"domain": DOMAIN, "selector": "s1", "private_key": str(tmp_path / "none.pem")}, "cannot be read"),
                      ({"domain": DOMAIN, "selector": "s 1", "private_key": rsa}, "selector"),
                      ({"domain": DOMAIN, "selector": "s1", "private_key": secret[:200]}, "does not parse"),
                      ({"domain": DOMAIN, "selector": "s1", "private_key": rsa, "colour": "red"}, "colour"),
                      ("d=example.com", "DKIMSigner or a mapping"),
                      ([{"domain": DOMAIN, "selector": "s1", "private_key": rsa}, 5], "['dkim'][1]")]:
        with pytest.raises(SMTPConfigError) as info:
            smtpx.celery.settings_of(_conf(bad))
        assert says in str(info.value) and "app.conf.smtpx['dkim']" in str(info.value)
        assert "PRIVATE KEY" not in str(info.value) and secret[40:80] not in str(info.value)


@pytest.mark.redis
@pytest.mark.postfix  # deselected with the real servers by scripts/test-lowest.sh
def test_messages_travel_unsigned_and_arrive_signed_by_every_configured_signer(redis_server, tmp_path):
    dkim = [{"domain": DOMAIN, "selector": "rsa", "private_key": _pem("rsa2048", tmp_path / "rsa.pem"),
             "expire": 3600},
            {"domain": DOMAIN, "selector": "ed", "private_key": _pem("ed25519", tmp_path / "ed.pem"),
             "canonicalization": "simple/simple"}]
    signers = [DKIMSigner(**{**d, "private_key": key(kind)}) for d, kind in zip(dkim, ["rsa2048", "ed25519"])]
    messages: list[object] = []
    for n in range(6):
        msg = EmailMessage()
        msg["From"] = f"Alice <alice@{DOMAIN}>"
        msg["To"] = f"reader{n}@example.org"
        msg["Subject"] = f"signed {n} caf\u00e9 " + "word " * 20
        msg.set_content(f"line {n}  \n.dot line\n")
        messages.append(msg)
    messages.append((f"alice@{DOMAIN}", ["raw@example.org"],
                     f"From: alice@{DOMAIN}\r\nTo: raw@example.org\r\nSubject: raw\r\n\r\nraw body\r\n".encode()))
    messages.append((f"alice@{DOMAIN}", ["nofrom@example.org"], b"Subject: no From to sign\r\n\r\nx\r\n"))
    items = [smtpx.celery.encode_message(m) for m in messages]
    assert not any(b"DKIM-Signature" in base64.b64decode(item["data"]) for item in items)  # unsigned in the broker
    with ScriptedServer() as target:
        cluster = make_cluster(redis_server, tmp_path, target.port, SMTPX_TEST_SMTPX=json.dumps({"dkim": dkim}))
        try:
            total = smtpx.celery.send_messages(cluster.app, items, chunk_size=3).wait(timeout=60)
        finally:
            cluster.stop()
        stored = list(target.messages)
    assert total["sent"] == 7
    [failed] = total["failed"]  # the signer refuses it: it fails alone, the rest of its chunk goes
    assert failed["message_id"] == items[-1]["message_id"] and "no From" in failed["error"]
    assert len(stored) == 7 and not any(m.rcpt_tos == ["nofrom@example.org"] for m in stored)
    for received in stored:
        assert received.data.count(b"DKIM-Signature:") == 2
        assert re.search(rb"x=\d+", received.data)  # the RSA signer's expiry, from the config
        assert verify(received.data, *signers, index=0) and verify(received.data, *signers, index=1)
        tampered = received.data.replace(b"\r\n\r\n", b"\r\n\r\nX", 1)  # a byte added to the body
        assert not verify(tampered, *signers, index=0) and not verify(tampered, *signers, index=1)
