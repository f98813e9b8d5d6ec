"""The Certificate type: every store form the library can open, the fields, and clear errors
for the stores it cannot open."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import time
import warnings

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from smtpx.tls.certificate import Certificate, format_date
from smtpx.enums import CertStoreType
from smtpx.errors import SMTPTLSError


@pytest.fixture(scope="module")
def rsa_leaf():
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    return ca, ca.issue_cert("mail.example.test", "192.0.2.7", common_name="mail.example.test",
                             organization_name="Example, Inc.", key_type=trustme.KeyType.RSA)


def _x509(leaf) -> x509.Certificate:
    return x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())


def _key(leaf):
    return serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)


def test_fields_of_an_rsa_certificate(rsa_leaf):
    _ca, leaf = rsa_leaf
    ref = _x509(leaf)
    der = ref.public_bytes(serialization.Encoding.DER)
    cert = Certificate(leaf.cert_chain_pems[0].bytes())
    assert cert.encoded_b == der
    assert base64.b64decode(cert.encoded) == der
    assert cert.fingerprint == ":".join(f"{b:02x}" for b in hashlib.md5(der).digest())
    assert cert.fingerprint_sha1.replace(":", "") == hashlib.sha1(der).hexdigest()
    assert cert.fingerprint_sha256.replace(":", "") == hashlib.sha256(der).hexdigest()
    assert cert.thumbprint_md5 == hashlib.md5(der).hexdigest()
    assert cert.thumbprint_sha1 == hashlib.sha1(der).hexdigest()
    assert cert.thumbprint_sha256 == hashlib.sha256(der).hexdigest()
    assert cert.subject.startswith("CN=mail.example.test, ")
    assert 'O="Example, Inc."' in cert.subject  # a value holding a comma is quoted
    assert cert.issuer.startswith("OU=Testing CA")
    assert cert.subject_alt_names == "mail.example.test, 192.0.2.7"
    assert cert.public_key_algorithm == "RSA"
    assert cert.public_key_length == ref.public_key().key_size
    assert cert.public_key.startswith("-----BEGIN PUBLIC KEY-----")
    assert int(cert.serial_number, 16) == ref.serial_number and len(cert.serial_number) % 2 == 0
    assert cert.signature_algorithm == "sha256WithRSAEncryption"
    assert cert.version == "V3"
    assert "1.3.6.1.5.5.7.3.1" in cert.extended_key_usage.split(",")
    usage = ref.extensions.get_extension_for_class(x509.KeyUsage).value
    assert bool(cert.usage_flags & 0x80) == usage.digital_signature
    assert bool(cert.usage_flags & 0x20) == usage.key_encipherment
    assert ("Digital Signature" in cert.usage) == usage.digital_signature
    assert not cert.private_key_available and cert.private_key == ""
    assert cert.effective_date == format_date(ref.not_valid_before_utc)
    assert cert.expiration_date == format_date(ref.not_valid_after_utc)


def test_date_format_is_the_references(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        moment = dt.datetime(2000, 1, 23, 15, 0, 0, tzinfo=dt.timezone.utc)
        assert format_date(moment) == "23-Jan-2000 15:00:00"
        monkeypatch.setenv("TZ", "Europe/Berlin")
        time.tzset()
        assert format_date(moment) == "23-Jan-2000 16:00:00"  # localized to the system's zone
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_empty_certificate():
    cert = Certificate()
    assert cert.is_empty and cert.encoded == "" and cert.subject == "" and cert.fingerprint == ""
    assert cert.store == "MY" and cert.store_type == CertStoreType.USER and cert.public_key_length == 0


def test_pem_der_and_file_constructors(rsa_leaf, tmp_path):
    _ca, leaf = rsa_leaf
    der = _x509(leaf).public_bytes(serialization.Encoding.DER)
    (tmp_path / "c.der").write_bytes(der)
    (tmp_path / "c.pem").write_bytes(leaf.cert_chain_pems[0].bytes())
    for cert in (Certificate(der), Certificate(encoded=der), Certificate(encoded=base64.b64encode(der).decode()),
                 Certificate.from_file(tmp_path / "c.der"), Certificate(str(tmp_path / "c.pem")),
                 Certificate(CertStoreType.PUBLIC_KEY_FILE, str(tmp_path / "c.der"), "", ""),
                 Certificate(CertStoreType.PUBLIC_KEY_BLOB, leaf.cert_chain_pems[0].bytes(), "", "")):
        assert cert.encoded_b == der


def test_encrypted_pem_key_needs_its_password(rsa_leaf, tmp_path):
    _ca, leaf = rsa_leaf
    key_pem = _key(leaf).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(b"pw"))
    path = tmp_path / "k.pem"
    path.write_bytes(leaf.cert_chain_pems[0].bytes() + key_pem)
    cert = Certificate(CertStoreType.PEM_KEY_FILE, str(path), "pw", "")
    assert cert.private_key_available and cert.private_key.startswith("-----BEGIN PRIVATE KEY-----")
    assert cert.key_password == "pw"
    with pytest.raises(SMTPTLSError) as info:
        Certificate(CertStoreType.PEM_KEY_FILE, str(path), "wrong", "")
    assert info.value.code == 271
    with pytest.raises(SMTPTLSError):
        Certificate(CertStoreType.PEM_KEY_FILE, str(path), "", "")
    # key_password overrides the store password for the key
    cert = Certificate(CertStoreType.PEM_KEY_FILE, str(path), "other", "", key_password="pw")
    assert cert.private_key_available


def test_pfx_selection_by_subject_and_thumbprint(rsa_leaf, tmp_path):
    ca, leaf = rsa_leaf
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    blob = pkcs12.serialize_key_and_certificates(b"x", _key(leaf), _x509(leaf), [ca_cert],
                                                 serialization.BestAvailableEncryption(b"pw"))
    cert = Certificate(CertStoreType.PFX_BLOB, blob, "pw", "")
    assert cert.subject.startswith("CN=mail.example.test") and cert.private_key_available
    assert len(cert.chain) == 1
    by_sub = Certificate(CertStoreType.PFX_BLOB, blob, "pw", "Testing CA")
    assert by_sub.subject.startswith("OU=Testing CA") and not by_sub.private_key_available
    thumb = hashlib.sha1(ca_cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    by_thumb = Certificate(CertStoreType.PFX_BLOB, blob, "pw", "Thumbprint=" + thumb)
    assert by_thumb.thumbprint_sha1 == thumb.lower()
    with pytest.raises(SMTPTLSError) as info:
        Certificate(CertStoreType.PFX_BLOB, blob, "pw", "no such subject")
    assert info.value.code == 272
    with pytest.raises(SMTPTLSError) as info:
        Certificate(CertStoreType.PFX_BLOB, blob, "bad", "")
    assert info.value.code == 271
    path = tmp_path / "s.pfx"
    path.write_bytes(blob)
    assert Certificate(CertStoreType.PFX_FILE, str(path), "pw", "").encoded_b == cert.encoded_b
    assert Certificate(CertStoreType.AUTO, str(path), "pw", "").encoded_b == cert.encoded_b
    assert Certificate(CertStoreType.AUTO, base64.b64encode(blob), "pw", "").private_key_available


def test_encoded_overload_finds_the_private_key_in_the_store(rsa_leaf):
    _ca, leaf = rsa_leaf
    blob = leaf.private_key_and_cert_chain_pem.bytes()
    der = _x509(leaf).public_bytes(serialization.Encoding.DER)
    cert = Certificate(CertStoreType.PEM_KEY_BLOB, blob, "", der)
    assert cert.encoded_b == der and cert.private_key_available
    stranger = trustme.CA().issue_cert("x.test")
    other = Certificate(CertStoreType.PEM_KEY_BLOB, blob, "", stranger.cert_chain_pems[0].bytes())
    assert not other.private_key_available and other.subject == ""


def test_p7b_and_ssh_and_bare_key(rsa_leaf, tmp_path):
    ca, leaf = rsa_leaf
    certs = [_x509(leaf), x509.load_pem_x509_certificate(ca.cert_pem.bytes())]
    p7b = pkcs7.serialize_certificates(certs, serialization.Encoding.DER)
    cert = Certificate(CertStoreType.P7B_BLOB, p7b, "", "mail.example")
    assert cert.encoded_b == certs[0].public_bytes(serialization.Encoding.DER)

    key = ed25519.Ed25519PrivateKey.generate()
    ssh = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    (tmp_path / "id.pub").write_bytes(ssh)
    sshcert = Certificate(CertStoreType.SSH_PUBLIC_KEY_FILE, str(tmp_path / "id.pub"), "", "")
    blob = base64.b64decode(ssh.split()[1])
    assert sshcert.fingerprint == ":".join(f"{b:02x}" for b in hashlib.md5(blob).digest())
    assert sshcert.public_key_algorithm == "Ed25519" and sshcert.encoded == ""

    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    bare = Certificate(CertStoreType.PEM_KEY_BLOB, pem, "", "")
    assert bare.private_key_available and bare.fingerprint == sshcert.fingerprint


@pytest.mark.parametrize("kind", [CertStoreType.MACHINE, CertStoreType.JKS_FILE, CertStoreType.JKS_BLOB,
                                  CertStoreType.PPK_FILE, CertStoreType.XML_BLOB, CertStoreType.JWK_FILE,
                                  CertStoreType.BCFKS_FILE, CertStoreType.PKCS11])
def test_stores_that_cannot_work_here_say_why(kind):
    with pytest.raises(SMTPTLSError) as info:
        Certificate(kind, "whatever", "pw", "CN=x")
    assert info.value.code == 271
    assert len(info.value.description) > 40  # a reason, not just a code


def test_user_store_with_a_subject_is_refused():
    with pytest.raises(SMTPTLSError) as info:
        Certificate(CertStoreType.USER, "MY", "", "CN=mail")
    assert "Windows" in info.value.description


def test_missing_file_and_garbage():
    with pytest.raises(SMTPTLSError) as info:
        Certificate(CertStoreType.PFX_FILE, os.path.join("/nonexistent", "x.pfx"), "", "")
    assert info.value.code == 271
    with pytest.raises(SMTPTLSError):
        Certificate(encoded=b"not a certificate")
    with pytest.raises(SMTPTLSError):
        Certificate(CertStoreType.AUTO, b"\x01\x02garbage", "", "")
    with pytest.raises(SMTPTLSError):
        Certificate(77, "x", "", "")


def _self_signed(kind: str):
    """A self-signed certificate with a key of ``kind``, and the algorithm and length its key
    fields must show."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

    with warnings.catch_warnings():  # making a DSA key warns in cryptography 51: not under test
        warnings.simplefilter("ignore")
        key, algorithm, length = {
            "rsa": lambda: (rsa.generate_private_key(65537, 2048), "RSA", 2048),
            "ec": lambda: (ec.generate_private_key(ec.SECP384R1()), "EC", 384),
            "ed25519": lambda: (ed25519.Ed25519PrivateKey.generate(), "Ed25519", 256),
            "dsa": lambda: (dsa.generate_private_key(2048), "DSA", 2048),
        }[kind]()
        name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, f"{kind}.example.test")])
        now = dt.datetime.now(dt.timezone.utc)
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + dt.timedelta(days=1)))
        cert = builder.sign(key, None if kind == "ed25519" else hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), algorithm, length


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519"])
def test_key_fields_of_a_key_that_is_not_dsa_warn_of_nothing(kind):
    """cryptography 51 warns (shown by default) when the name DSAPublicKey is merely looked
    up: reading the key fields of a certificate whose key is not DSA must not pass that on
    (warnings are errors here)."""
    pem, algorithm, length = _self_signed(kind)
    cert = Certificate(pem)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cert.public_key_algorithm == algorithm
        assert cert.public_key_length == length


def test_key_fields_of_a_dsa_key():
    """A DSA certificate still shows its key (cryptography's own warning that DSA itself is
    deprecated, from reading such a key, is its to give)."""
    pem, algorithm, length = _self_signed("dsa")
    cert = Certificate(pem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert (cert.public_key_algorithm, cert.public_key_length) == (algorithm, length)
