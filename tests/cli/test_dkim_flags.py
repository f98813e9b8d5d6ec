"""smtpx send --dkim-key/--dkim-selector/--dkim-domain against the real aiosmtpd server: the
stored message verifies with dkimpy; a missing partner flag, a bad key or a bad domain is a
clear error naming the flags, and nothing is sent; queue run signs each file as it sends it."""
from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from smtpx.dkim import DKIMSigner
from tests.cli.helpers import run, server_args
from tests.dkim.test_signer import verify

FROM = ["--from", "Ann <ann@example.com>"]


def write_key(tmp_path):
    key = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "dkim.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def test_send_signs_and_dkimpy_verifies(server, capsys, tmp_path):
    path = write_key(tmp_path)
    code, _, err = run(capsys, "send", *server_args(server), *FROM, "--to", "bob@example.org",
                       "--subject", "signed", "--body", "hello\n.dot line\n",
                       "--dkim-key", str(path), "--dkim-selector", "cli", "--dkim-domain", "example.com")
    assert code == 0, err
    [stored] = server.messages
    assert stored.data.startswith(b"DKIM-Signature:")
    signer = DKIMSigner(domain="example.com", selector="cli", private_key=str(path))
    assert verify(stored.data, signer)
    assert not verify(stored.data.replace(b"hello", b"HELLO"), signer)


def test_a_lone_dkim_flag_is_refused_and_nothing_is_sent(server, capsys, tmp_path):
    code, _, err = run(capsys, "send", *server_args(server), *FROM, "--to", "bob@example.org", "--body", "x",
                       "--dkim-key", str(write_key(tmp_path)))
    assert code == 2 and "--dkim-selector" in err and "--dkim-domain" in err
    assert server.verbs() == []


def test_a_bad_key_or_domain_is_bad_input_and_nothing_is_sent(server, capsys, tmp_path):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    code, _, err = run(capsys, "send", *server_args(server), *FROM, "--to", "bob@example.org", "--body", "x",
                       "--dkim-key", str(garbage), "--dkim-selector", "s", "--dkim-domain", "example.com")
    assert code == 3 and "--dkim-key" in err
    code, _, err = run(capsys, "send", *server_args(server), *FROM, "--to", "bob@example.org", "--body", "x",
                       "--dkim-key", str(write_key(tmp_path)), "--dkim-selector", "s", "--dkim-domain", "exa mple.com")
    assert code == 3 and "--dkim-domain" in err
    assert server.verbs() == []


def test_queue_run_signs_when_sending(server, capsys, tmp_path):
    path = write_key(tmp_path)
    folder = tmp_path / "queue"
    folder.mkdir()
    code, _, err = run(capsys, "queue", "add", str(folder), *FROM, "--to", "bob@example.org", "--subject", "queued",
                       "--body", "hello\n")
    assert code == 0, err
    assert b"DKIM-Signature" not in next(folder.iterdir()).read_bytes()  # not signed when queued
    code, _, err = run(capsys, "queue", "run", str(folder), *server_args(server), "--no-progress",
                       "--dkim-key", str(path), "--dkim-selector", "cli", "--dkim-domain", "example.com")
    assert code == 0, err
    [stored] = server.messages
    assert verify(stored.data, DKIMSigner(domain="example.com", selector="cli", private_key=str(path)))
