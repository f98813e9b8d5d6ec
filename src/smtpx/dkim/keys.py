"""DKIM private keys: loading (PEM text, DER or PEM bytes, a path, a ``cryptography`` key) and
the checks made when a signer is created, and the public key's DNS record.

Only RSA (1024 to 4096 bits: RFC 8301 makes verifiers handle exactly that range) and Ed25519
(RFC 8463) are signing keys; anything else is an ``SMTPInputError``. Error messages never
include key material.
"""
from __future__ import annotations

import base64
import os
from typing import Union

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from smtpx.errors import SMTPInputError

SigningKey = Union[rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey]
KeySource = Union[str, bytes, "os.PathLike[str]", rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey]

RSA_MIN_BITS = 1024
RSA_MAX_BITS = 4096


def _parse(data: bytes) -> object:
    try:
        if b"-----BEGIN" in data:
            return serialization.load_pem_private_key(data, password=None)
        return serialization.load_der_private_key(data, password=None)
    except TypeError:  # cryptography: the key is encrypted and no password was given
        raise SMTPInputError("DKIM private key is encrypted; give it decrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise SMTPInputError("DKIM private key does not parse (PEM or DER, PKCS#1 or PKCS#8)") from None


def load_signing_key(source: object) -> SigningKey:
    """The key from any accepted source, checked (type and size)."""
    key: object
    if isinstance(source, (rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        key = source
    elif isinstance(source, (bytes, bytearray, memoryview)):
        key = _parse(bytes(source))
    elif isinstance(source, str) and "-----BEGIN" in source:
        key = _parse(source.encode("ascii", "replace"))
    elif isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise SMTPInputError(f"DKIM private key file cannot be read: {os.fspath(source)!r} "
                                 f"({exc.strerror or exc})") from None
        key = _parse(data)
    else:
        raise SMTPInputError("DKIM private key: expected PEM text, bytes, a path or a cryptography "
                             f"RSA/Ed25519 private key, not {type(source).__name__}")
    if isinstance(key, rsa.RSAPrivateKey):
        if not RSA_MIN_BITS <= key.key_size <= RSA_MAX_BITS:
            raise SMTPInputError(f"DKIM RSA key has {key.key_size} bits; "
                                 f"{RSA_MIN_BITS} to {RSA_MAX_BITS} are accepted (RFC 8301)")
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    raise SMTPInputError(f"DKIM keys are RSA or Ed25519, not {type(key).__name__}")


def algorithm_of(key: SigningKey) -> str:
    """The a= tag value."""
    return "rsa-sha256" if isinstance(key, rsa.RSAPrivateKey) else "ed25519-sha256"


def dns_record(key: SigningKey) -> str:
    """The TXT record to publish at ``<selector>._domainkey.<domain>``."""
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        der = public.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}"
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode('ascii')}"
