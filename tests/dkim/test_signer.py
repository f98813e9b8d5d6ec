"""DKIMSigner: every signature verified by dkimpy (an independent verifier; public keys come
from a dnsfunc, no DNS) over the bytes a server receives (the signed message through the
DATA dot-stuffer and back), on both kernel implementations; tampering breaks it; bad
configuration is a typed error when the signer is made (FAULTS 45)."""
from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

import smtpx.dkim.signer as signer_module
from smtpx import kernels
from smtpx.dkim import DEFAULT_HEADERS, DKIMSigner
from smtpx.errors import SMTPInputError

dkim = pytest.importorskip("dkim")
pytest.importorskip("nacl")  # dkimpy verifies Ed25519 with PyNaCl

DOMAIN = "example.com"

# A 512-bit RSA key (openssl genrsa 512): too short to sign with; made for this test only.
RSA_512_PEM = """-----BEGIN PRIVATE KEY-----
MIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEAuz48OrlkiIQ8j5qb
VkieX8eGwuAfD5+ZtRMmJjzN9zPfEyog1lZJ0Te5tvDkLZESQJHmgloKBll0BM9b
GvHckQIDAQABAkBgCYW+4QQNeTXOug/ea5S/r4kRPv7vdn7R/yZcCmfh2BqEtuUm
EXNzM+91Z4GL55tU6IBxjf43PvWe46DK9ELZAiEA2+bHOpNfRmqM4XglZ4ldizbj
4sUmnA2hX5f+o0a4S+MCIQDZ+wJsL9/8jpguR3wfSl7xnEV4BI7trip6learYVbH
+wIhAJib/mPOZu6Nf5vyL7M9B6hXvathOzxN0VJwP428xKYVAiEAgORLqm0kpNIs
ajEa0+XF/lfJPA519VTnCVVZ8Dy+c8ECIBRLzDPfdEfNhQp9Tsm1Hjx6XhqFpDn0
mBBqwTo47bGS
-----END PRIVATE KEY-----
"""

_KEYS: dict[str, object] = {}


def key(kind: str):
    """Keys are slow to make (RSA-4096): one of each per run."""
    if kind not in _KEYS:
        if kind == "ed25519":
            _KEYS[kind] = ed25519.Ed25519PrivateKey.generate()
        else:
            _KEYS[kind] = rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    return _KEYS[kind]


@pytest.fixture
def impl(kernel_impl, monkeypatch):
    """Sign with one kernel implementation (py / c)."""
    monkeypatch.setattr(signer_module, "kernels", kernel_impl)
    return kernel_impl


def received(message: bytes) -> bytes:
    """What a server stores after DATA: the message dot-stuffed by smtpx, then unstuffed."""
    stuffer = kernels.DotStuffer()
    wire = stuffer.feed(message) + stuffer.finish()
    assert wire.endswith(b"\r\n.\r\n") or wire == b".\r\n"
    lines = wire[:-3].split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


def verify(message: bytes, *signers: DKIMSigner, index: int = 0) -> bool:
    records = {f"{s.selector}._domainkey.{s.domain}.".encode(): s.dns_record().encode() for s in signers}

    def dnsfunc(name, timeout=5):
        return records.get(name)

    try:
        return dkim.DKIM(message).verify(idx=index, dnsfunc=dnsfunc)
    except dkim.DKIMException:
        return False


def sign_and_receive(signer: DKIMSigner, message: bytes, **kwargs) -> bytes:
    field = signer.sign(message, **kwargs)
    assert field.endswith(b"\r\n") and field.startswith(b"DKIM-Signature: ")
    assert all(len(line) <= 78 for line in field.split(b"\r\n"))
    assert re.search(rb"\r\n(?![ \t])", field[:-2]) is None  # only folded continuation lines
    return received(field + message)


MESSAGES = {
    "plain": b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: hi\r\n"
             b"Date: Sat, 05 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\r\nHello.\r\n",
    "folded": b"From: alice@example.com\r\nTo: a@example.org,\r\n\tb@example.org,\r\n  c@example.org\r\n"
              b"Subject: a subject\r\n that is\r\n\t folded\r\nX-Not-Signed: x\r\n\r\nbody\r\n",
    "trailing_ws": b"From:   alice@example.com   \r\nSubject:\tspaces \t \r\nTo:bob@example.org\t\r\n\r\n"
                   b"line with trailing   \r\n\t tabbed \t\r\n  \r\nlast\t\r\n\r\n\r\n \r\n",
    "empty_body": b"From: alice@example.com\r\nSubject: empty\r\n\r\n",
    "no_body": b"From: alice@example.com\r\nSubject: no empty line",
    "no_final_crlf": b"From: alice@example.com\r\nSubject: x\r\n\r\nfirst\r\nlast line  ",
    "bare_lf": b"From: alice@example.com\nSubject: lf\n folded\n\nline 1\nline 2 \n\n",
    "eight_bit": b"From: alice@example.com\r\nSubject: caf\xe9\r\nContent-Type: text/plain; charset=latin-1\r\n"
                 b"Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xe9 \xff\x80\r\n",
    "utf8": "From: Jos\u00e9 <jos\u00e9@exampl\u00e9.com>\r\nTo: \u7530\u4e2d@example.jp\r\n"
            "Subject: \u00e7a va \U0001f600\r\n\r\n\u65e5\u672c\u8a9e  \u00e9t\u00e9\r\n".encode(),
    "dots": b"From: alice@example.com\r\nSubject: dots\r\n\r\n.\r\n..\r\n.starts with a dot\r\n"
            b"middle . dot\r\n.\r\n",
    "duplicates": b"Received: from x\r\nFrom: alice@example.com\r\nTo: one@example.org\r\n"
                  b"To: two@example.org\r\nSubject: two To fields\r\n\r\nbody\r\n",
    "large": b"From: alice@example.com\r\nSubject: large\r\n\r\n"
             + b"".join(b"line %d with some  words\t and spaces \r\n" % i for i in range(4000)),
}

CANONICALIZATIONS = ["relaxed/relaxed", "simple/simple", "relaxed/simple", "simple/relaxed"]


@pytest.mark.parametrize("kind", ["rsa1024", "rsa2048", "rsa4096", "ed25519"])
@pytest.mark.parametrize("canonicalization", CANONICALIZATIONS)
@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_dkimpy_verifies(impl, kind, canonicalization, name):
    signer = DKIMSigner(domain=DOMAIN, selector="s1", private_key=key(kind),
                        canonicalization=canonicalization)
    stored = sign_and_receive(signer, MESSAGES[name])
    assert verify(stored, signer)
    assert f"c={canonicalization};".encode() in stored
    assert f"a={signer.algorithm};".encode() in stored


@pytest.mark.parametrize("canonicalization", CANONICALIZATIONS)
def test_altered_after_signing_fails(impl, canonicalization):
    signer = DKIMSigner(domain=DOMAIN, selector="s1", private_key=key("rsa2048"),
                        canonicalization=canonicalization)
    stored = sign_and_receive(signer, MESSAGES["plain"])
    assert verify(stored, signer)
    assert not verify(stored.replace(b"Hello.", b"Hellp."), signer)             # body
    assert not verify(stored.replace(b"Subject: hi", b"Subject: ho"), signer)   # signed header
    assert not verify(stored + b"appended\r\n", signer)                          # body grown
    assert not verify(stored.replace(b"To: bob@", b"To: eve@"), signer)
    # an unsigned header may be added
    assert verify(stored.replace(b"\r\n\r\n", b"\r\nX-Added: yes\r\n\r\n", 1), signer)


def test_relaxed_tolerates_white_space_changes_simple_does_not(impl):
    message = MESSAGES["plain"]
    for canonicalization, survives in (("relaxed/relaxed", True), ("simple/simple", False)):
        signer = DKIMSigner(domain=DOMAIN, selector="s1", private_key=key("ed25519"),
                            canonicalization=canonicalization)
        stored = sign_and_receive(signer, message)
        respaced = stored.replace(b"Subject: hi", b"Subject:   hi ").replace(b"Hello.", b"Hello.  ")
        assert verify(respaced, signer) is survives
        assert verify(stored, signer)


def test_rsa_and_ed25519_on_one_message(impl):
    message = MESSAGES["folded"]
    signers = [DKIMSigner(domain=DOMAIN, selector="rsa", private_key=key("rsa2048")),
               DKIMSigner(domain=DOMAIN, selector="ed", private_key=key("ed25519"),
                          canonicalization="simple/simple")]
    fields = b"".join(s.sign(message) for s in signers)
    stored = received(fields + message)
    assert verify(stored, *signers, index=0)
    assert verify(stored, *signers, index=1)
    assert not verify(stored.replace(b"body", b"b0dy"), *signers, index=0)
    assert not verify(stored.replace(b"body", b"b0dy"), *signers, index=1)


def test_expiry(impl):
    signer = DKIMSigner(domain=DOMAIN, selector="s1", private_key=key("ed25519"), expire=timedelta(hours=1))
    stored = sign_and_receive(signer, MESSAGES["plain"], timestamp=None)
    t = int(re.search(rb"\bt=(\d+)", stored).group(1))
    assert re.search(rb"\bx=(\d+)", stored).group(1) == str(t + 3600).encode()
    assert verify(stored, signer)
    # signed a day ago with a minute of life: expired (dkimpy allows 10 hours of clock slop)
    old = DKIMSigner(domain=DOMAIN, selector="s1", private_key=key("ed25519"), expire=60)
    assert not verify(sign_and_receive(old, MESSAGES["plain"], timestamp=t - 86400), old)
    no_expiry = sign_and_receive(DKIMSigner(domain=DOMAIN, selector="s1", private_key=key("ed25519")),
                                 MESSAGES["plain"])
    assert re.search(rb"\bx=", no_expiry) is None


def signed_names(field: bytes) -> list[str]:
    unfolded = re.sub(rb"\r\n[ \t]", b"", field).decode()
    return re.search(r"\bh=([^;]*)", unfolded).group(1).split(":")


def test_default_headers_only_those_present(impl):
    signer = DKIMSigner(domain=DOMAIN, selector="s1", private_key=key("ed25519"))
    assert signed_names(signer.sign(MESSAGES["plain"])) == ["From", "Subject", "Date", "Message-ID", "To"]
    assert signed_names(signer.sign(MESSAGES["duplicates"])) == ["From", "Subject", "To", "To"]
    assert "Received" not in DEFAULT_HEADERS and "List-Unsubscribe-Post" in DEFAULT_HEADERS


def test_custom_headers_and_case(impl):
    signer = DKIMSigner(domain=DOMAIN, selector="s1", private_key=key("rsa1024"),
                        headers=["from", "X-Not-Signed", "Subject", "CC"])
    field = signer.sign(MESSAGES["folded"])
    assert signed_names(field) == ["from", "X-Not-Signed", "Subject"]
    stored = received(field + MESSAGES["folded"])
    assert verify(stored, signer)
    assert not verify(stored.replace(b"X-Not-Signed: x", b"X-Not-Signed: y"), signer)


def test_oversigning_from(impl):
    message = MESSAGES["plain"]
    forged = b"From: mallory@example.net\r\n"
    plain = DKIMSigner(domain=DOMAIN, selector="s1", private_key=key("ed25519"))
    over = DKIMSigner(domain=DOMAIN, selector="s1", private_key=key("ed25519"), oversign_from=True)
    assert signed_names(plain.sign(message)).count("From") == 1
    names = signed_names(over.sign(message))
    assert names.count("From") == 2 and names[-1] == "From"
    for signer in (plain, over):
        field = signer.sign(message)
        assert verify(received(field + message), signer)
        # A second From above the signed one. dkimpy treats From as oversigned whatever h=
        # says, so it refuses both; for other verifiers only the oversigned one holds.
        assert not verify(received(field + forged + message), signer)


def test_signer_attributes_and_dns_record():
    rsa_signer = DKIMSigner(domain="B\u00fccher.Example", selector="2026-12.mail", private_key=key("rsa2048"),
                            canonicalization="Relaxed")
    assert rsa_signer.domain == "xn--bcher-kva.example"
    assert rsa_signer.canonicalization == "relaxed/simple"
    assert rsa_signer.algorithm == "rsa-sha256"
    assert rsa_signer.dns_record().startswith("v=DKIM1; k=rsa; p=MII")
    ed = DKIMSigner(domain=DOMAIN, selector="s", private_key=key("ed25519"))
    record = ed.dns_record()
    assert record.startswith("v=DKIM1; k=ed25519; p=")
    assert len(base64.b64decode(record.split("p=")[1])) == 32
    assert "ed25519" in repr(ed)


@pytest.mark.parametrize("form", ["pem_text", "pem_bytes", "der_bytes", "path_str", "pathlike", "pkcs1_pem"])
@pytest.mark.parametrize("kind", ["rsa2048", "ed25519"])
def test_key_sources(tmp_path, form, kind):
    private = key(kind)
    fmt = (serialization.PrivateFormat.TraditionalOpenSSL if form == "pkcs1_pem" and kind != "ed25519"
           else serialization.PrivateFormat.PKCS8)
    encoding = serialization.Encoding.DER if form == "der_bytes" else serialization.Encoding.PEM
    data = private.private_bytes(encoding, fmt, serialization.NoEncryption())
    path = tmp_path / "key.pem"
    path.write_bytes(data)
    source = {"pem_text": data.decode("latin-1"), "pem_bytes": data, "der_bytes": data, "pkcs1_pem": data,
              "path_str": str(path), "pathlike": path}[form]
    signer = DKIMSigner(domain=DOMAIN, selector="s1", private_key=source)
    assert signer.dns_record() == DKIMSigner(domain=DOMAIN, selector="s1", private_key=private).dns_record()
    assert verify(received(signer.sign(MESSAGES["plain"]) + MESSAGES["plain"]), signer)


# --- bad configuration: a typed error when the signer is made (FAULTS 45) -----------------

def encrypted_pem() -> bytes:
    return key("rsa1024").private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.BestAvailableEncryption(b"secret"))


@pytest.mark.parametrize(
    "private_key, words",
    [
        ("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n", "does not parse"),
        (b"\x30\x03garbage", "does not parse"),
        (b"", "does not parse"),
        ("/nonexistent/dkim.key", "cannot be read"),
        (RSA_512_PEM, "512 bits"),
        # just past RSA_MAX_BITS (4096): the boundary, and far quicker to make than 8192 bits
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=4104), "4104 bits"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "RSA/Ed25519 private key, not ECPrivateKey"),
        (lambda: ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
         "RSA or Ed25519"),
        (lambda: encrypted_pem(), "encrypted"),
        (12345, "expected PEM text"),
        (None, "expected PEM text"),
    ],
    ids=["pem_garbage", "der_garbage", "empty", "missing_file", "rsa512", "rsa4104", "ec", "ec_pem", "encrypted",
         "int", "none"],
)
def test_bad_keys(private_key, words):
    if callable(private_key):
        private_key = private_key()
    with pytest.raises(SMTPInputError, match=words) as info:
        DKIMSigner(domain=DOMAIN, selector="s1", private_key=private_key)
    assert isinstance(info.value, ValueError)
    assert "MII" not in str(info.value)  # no key material in the message


@pytest.mark.parametrize("field, value", [
    ("selector", "bad_selector"), ("selector", "has space"), ("selector", "a..b"), ("selector", "-lead"),
    ("selector", "trail-"), ("selector", "x" * 64), ("selector", ""), ("selector", "semi;colon"),
    ("selector", "s\r\nX-Injected: 1"), ("selector", 7),
    ("domain", "exa mple.com"), ("domain", "ex_ample.com"), ("domain", "example.com."), ("domain", ""),
    ("domain", "example.com;x=1"), ("domain", "a." * 127 + "com"), ("domain", b"example.com"),
    ("domain", "\u2603\u0000.com"),
])
def test_bad_dns_names(field, value):
    arguments = {"domain": DOMAIN, "selector": "s1", field: value}
    with pytest.raises(SMTPInputError, match="DKIM"):
        DKIMSigner(private_key=key("ed25519"), **arguments)


@pytest.mark.parametrize("arguments, words", [
    ({"headers": ["To", "Subject"]}, "include From"),
    ({"headers": "From"}, "list of header names"),
    ({"headers": ["From", "Bad Name"]}, "not a header field name"),
    ({"headers": ["From", "X:Y"]}, "not a header field name"),
    ({"headers": ["From", "X;Y"]}, "not a header field name"),
    ({"headers": ["From", "DKIM-Signature"]}, "DKIM-Signature"),
    ({"canonicalization": "fast/relaxed"}, "canonicalization"),
    ({"canonicalization": "relaxed/relaxed/simple"}, "canonicalization"),
    ({"canonicalization": None}, "canonicalization"),
    ({"expire": 0}, "at least one second"),
    ({"expire": -5}, "at least one second"),
    ({"expire": timedelta(0)}, "at least one second"),
    ({"expire": "1h"}, "seconds"),
    ({"expire": True}, "seconds"),
])
def test_bad_settings(arguments, words):
    with pytest.raises(SMTPInputError, match=words):
        DKIMSigner(domain=DOMAIN, selector="s1", private_key=key("ed25519"), **arguments)


def test_bad_messages():
    signer = DKIMSigner(domain=DOMAIN, selector="s1", private_key=key("ed25519"))
    with pytest.raises(SMTPInputError, match="no From"):
        signer.sign(b"To: bob@example.org\r\nSubject: x\r\n\r\nbody\r\n")
    with pytest.raises(SMTPInputError, match="no From"):
        signer.sign(b"\r\nFrom: in the body\r\n")
    with pytest.raises(SMTPInputError, match="as bytes"):
        signer.sign("From: a@example.com\r\n\r\nx")  # type: ignore[arg-type]


def test_folding_at_every_column(impl):
    """Selectors and domains of every length move each fold (and the b= value's first line)
    across the line; every line stays within 78 characters and the signature verifies."""
    for size in range(1, 64, 3):
        for kind in ("ed25519", "rsa1024"):
            signer = DKIMSigner(domain=f"{'d' * size}.example", selector="s" * (64 - size), private_key=key(kind),
                                oversign_from=size % 2 == 1, expire=size)
            assert verify(sign_and_receive(signer, MESSAGES["duplicates"]), signer), (size, kind)
