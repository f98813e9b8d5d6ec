"""The reference's ``Certificate`` type, backed by ``cryptography``.

A ``Certificate`` holds at most one X.509 certificate, its private key (when the store had one)
and the other certificates that came with it (the chain of a PFX or PEM file). Fields are the
reference's names in snake_case; the read-only ones are computed from the parsed certificate.

Constructors (the reference's overloads, in Python form)::

    Certificate()                                   # empty
    Certificate(b"...")  / Certificate(encoded=...) # PEM, Base64 or DER certificate
    Certificate("cert.pem") / Certificate.from_file(path)   # a PEM or DER certificate file
    Certificate(store_type, store, store_password="", subject="")   # open a store, pick a cert

``store`` is a path for the *_FILE store types and bytes (or Base64 text) for the *_BLOB ones.
``subject`` picks the certificate: "" or "*" takes the first one (the one with the private key
first), "Thumbprint=<md5|sha1|sha256 hex>" matches a thumbprint, anything else matches the
subject exactly, then as a substring. Passing bytes as ``subject`` is the reference's
"encoded" overload: that certificate is loaded and the store is searched for its private key.

Store types that cannot work here raise ``SMTPCertificateStoreError(code=271)`` saying why
(an SMTPTLSError that is also a ValueError, as every error for a bad certificate or store is).

Formats chosen where the reference leaves room:
- ``fingerprint*``: colon-separated lowercase hex of the hash of the DER certificate; for a key
  with no certificate, of the public key (SSH wire form when the key type has one, else DER
  SubjectPublicKeyInfo).
- ``thumbprint_*``: lowercase hex without separators of the hash of the DER certificate.
- ``encoded``: Base64 of the DER certificate on one line; ``encoded_b``: the DER bytes.
- ``subject`` / ``issuer``: "CN=..., OU=..., O=..., C=..." (most specific first, values holding a
  comma are quoted), with the reference's short names (S for state, E for e-mail).
"""
from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import ipaddress
import os
import re
import warnings
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import Certificate as X509Certificate, ObjectIdentifier
from cryptography.x509.oid import ExtensionOID, NameOID

from smtpx.enums import CertStoreType
from smtpx.errors import SMTPCertificateStoreError, SMTPTLSError

__all__ = ["Certificate", "format_date"]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Short attribute names as the reference writes them ("S" for state, "E" for e-mail).
_NAME_LABELS = {
    NameOID.COMMON_NAME: "CN",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "S",
    NameOID.COUNTRY_NAME: "C",
    NameOID.EMAIL_ADDRESS: "E",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.SERIAL_NUMBER: "SERIALNUMBER",
    NameOID.STREET_ADDRESS: "STREET",
    NameOID.TITLE: "T",
    NameOID.GIVEN_NAME: "G",
    NameOID.SURNAME: "SN",
    NameOID.USER_ID: "UID",
}

# (attribute of x509.KeyUsage, reference flag, reference text), in the reference's order.
_KEY_USAGES = (
    ("digital_signature", 0x80, "Digital Signature"),
    ("content_commitment", 0x40, "Non-Repudiation"),
    ("key_encipherment", 0x20, "Key Encipherment"),
    ("data_encipherment", 0x10, "Data Encipherment"),
    ("key_agreement", 0x08, "Key Agreement"),
    ("key_cert_sign", 0x04, "Certificate Signing"),
    ("crl_sign", 0x02, "CRL Signing"),
    ("encipher_only", 0x01, "Encipher Only"),
)

# Why each store type that cannot be opened here is refused (code 271).
_UNSUPPORTED_STORES = {
    CertStoreType.USER: "the Windows user certificate store (cstUser) does not exist on this platform; "
    "export the certificate to a PFX or PEM file and use cstPFXFile / cstPEMKeyFile",
    CertStoreType.MACHINE: "the Windows machine certificate store (cstMachine) does not exist on this "
    "platform; export the certificate to a PFX or PEM file and use cstPFXFile / cstPEMKeyFile",
    CertStoreType.JKS_FILE: "Java Key Store (JKS) files are not supported; convert with "
    "'keytool -importkeystore -deststoretype PKCS12' and use cstPFXFile",
    CertStoreType.JKS_BLOB: "Java Key Store (JKS) data is not supported; convert it to PKCS#12 (PFX)",
    CertStoreType.PPK_FILE: "PuTTY private keys (PPK) hold no X.509 certificate and cannot be used for TLS",
    CertStoreType.PPK_BLOB: "PuTTY private keys (PPK) hold no X.509 certificate and cannot be used for TLS",
    CertStoreType.XML_FILE: "XML certificate/key files are not supported; use PEM or PFX",
    CertStoreType.XML_BLOB: "XML certificate/key data is not supported; use PEM or PFX",
    CertStoreType.JWK_FILE: "JSON Web Keys (JWK) are not supported; use PEM or PFX",
    CertStoreType.JWK_BLOB: "JSON Web Keys (JWK) are not supported; use PEM or PFX",
    CertStoreType.BCFKS_FILE: "Bouncy Castle FIPS key stores (BCFKS) exist only in Java and .NET; "
    "convert to PKCS#12 (PFX)",
    CertStoreType.BCFKS_BLOB: "Bouncy Castle FIPS key stores (BCFKS) exist only in Java and .NET; "
    "convert to PKCS#12 (PFX)",
    CertStoreType.PKCS11: "PKCS#11 security keys are not supported by Python's ssl module, which needs "
    "the private key in memory",
}

_FILE_TYPES = {
    CertStoreType.PFX_FILE, CertStoreType.PEM_KEY_FILE, CertStoreType.PUBLIC_KEY_FILE,
    CertStoreType.P7B_FILE, CertStoreType.SSH_PUBLIC_KEY_FILE,
}


def format_date(moment: _dt.datetime) -> str:
    """The reference's date form, in the local time zone: ``23-Jan-2000 15:00:00``.
    Month names are English whatever the locale (strftime's %b is not)."""
    local = moment.astimezone()
    return f"{local.day:02d}-{_MONTHS[local.month - 1]}-{local.year:04d} {local:%H:%M:%S}"


def _is_dsa(public_key: object) -> bool:
    """A DSA key. cryptography 51 warns (CryptographyDeprecationWarning, shown by default) when
    the name DSAPublicKey is merely looked up, so it is asked last, only for a key that is none
    of the others, and that warning is not passed on to the caller."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return isinstance(public_key, dsa.DSAPublicKey)


def _colon_hex(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def _format_name(name: x509.Name) -> str:
    parts = []
    for rdn in reversed(name.rdns):  # most specific (CN) first, as the reference shows
        for attr in rdn:
            label = _NAME_LABELS.get(attr.oid, attr.oid.dotted_string)
            value = attr.value if isinstance(attr.value, str) else attr.value.hex()
            if "," in value or value != value.strip() or '"' in value:
                value = '"' + value.replace('"', '\\"') + '"'
            parts.append(f"{label}={value}")
    return ", ".join(parts)


def _normalise_hex(text: str) -> str:
    return re.sub(r"[\s:]", "", text).lower()


def _as_bytes(data: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    return bytes(data)


def _maybe_base64(data: bytes) -> bytes:
    """Blob stores accept binary or Base64 text: decode the text form, keep binary as is."""
    stripped = data.strip()
    if not stripped or stripped.startswith(b"-----") or stripped[:1] == b"\x30":
        return data
    try:
        return base64.b64decode(b"".join(stripped.split()), validate=True)
    except (binascii.Error, ValueError):
        return data


def _load_pem_objects(data: bytes, password: bytes | None) -> tuple[Any, list[x509.Certificate]]:
    """Private key (or None) and certificates from PEM text."""
    certs = x509.load_pem_x509_certificates(data) if b"-----BEGIN CERTIFICATE" in data else []
    key = None
    match = re.search(rb"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", data, re.S)
    if match:
        key = serialization.load_pem_private_key(match.group(0), password=password)
    return key, certs


class Certificate:
    """A certificate (and maybe its private key). See the module docstring."""

    def __init__(
        self,
        store_type: int | str | bytes | bytearray | None = None,
        store: str | bytes | None = None,
        store_password: str = "",
        subject: str | bytes = "",
        *,
        encoded: str | bytes | None = None,
        key_password: str | None = None,
    ) -> None:
        self._cert: x509.Certificate | None = None
        self._key: Any = None
        self._public_key: Any = None  # for key-only stores (SSH public key, bare private key)
        self._chain: list[x509.Certificate] = []
        self.store_type: int = int(CertStoreType.USER)
        self.store: str = "MY"
        self.store_b: bytes = b"MY"
        self.store_password: str = store_password
        self._key_password: str | None = key_password
        self._subject: str = ""
        self.private_key_container: str = ""  # Windows CryptoAPI only

        if isinstance(store_type, (bytes, bytearray, memoryview)) and store is None:
            encoded = bytes(store_type)  # Certificate(encoded)
            store_type = None
        elif isinstance(store_type, str) and store is None:
            self._load_file_certificate(store_type)  # Certificate(certificate_file)
            return
        if encoded is not None:
            self._set_encoded(encoded)
        if store_type is not None:
            self.store_type = int(store_type)
            if isinstance(store, str):
                self.store = store
                self.store_b = store.encode("utf-8")
            elif store is not None:
                self.store_b = bytes(store)
                self.store = ""
            self._open_store(subject)

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> "Certificate":
        """A PEM or DER certificate file (the reference's ``Certificate(certificateFile)``)."""
        return cls(os.fspath(path))

    @classmethod
    def from_x509(
        cls, cert: x509.Certificate, chain: list[x509.Certificate] | None = None, key: Any = None
    ) -> "Certificate":
        """Wrap a ``cryptography`` certificate (used for the server certificate)."""
        self = cls()
        self._cert = cert
        self._chain = list(chain or [])
        self._key = key
        self._subject = _format_name(cert.subject)
        return self

    def _load_file_certificate(self, path: str) -> None:
        data = self._read_file(path)
        self.store_type = int(CertStoreType.PUBLIC_KEY_FILE)
        self.store, self.store_b = path, path.encode("utf-8")
        self._set_encoded(data)

    def _set_encoded(self, data: str | bytes) -> None:
        raw = _maybe_base64(_as_bytes(data))
        try:
            if b"-----BEGIN" in raw:
                certs = x509.load_pem_x509_certificates(raw)
            else:
                certs = [x509.load_der_x509_certificate(raw)]
        except ValueError as exc:
            raise SMTPCertificateStoreError(f"cannot parse the certificate: {exc}", 271) from exc
        self._cert, self._chain = certs[0], certs[1:]
        self._subject = _format_name(self._cert.subject)

    # ----------------------------------------------------------------- stores
    @staticmethod
    def _read_file(path: str) -> bytes:
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise SMTPCertificateStoreError(f"cannot open certificate store {path!r}: {exc.strerror or exc}",
                                            271) from exc

    def _store_data(self, kind: int) -> bytes:
        if kind in _FILE_TYPES:
            if not self.store:
                raise SMTPCertificateStoreError("the certificate store file name is empty", 271)
            return self._read_file(self.store)
        data = self.store_b
        return _maybe_base64(data)

    def _password(self) -> bytes | None:
        pw = self.store_password if self._key_password is None else self._key_password
        return pw.encode("utf-8") if pw else None

    def _open_store(self, subject: str | bytes) -> None:
        try:
            kind = CertStoreType(self.store_type)
        except ValueError:
            raise SMTPCertificateStoreError(f"unknown certificate store type {self.store_type}", 271) from None
        if kind in _UNSUPPORTED_STORES:
            if kind in (CertStoreType.USER, CertStoreType.MACHINE) and self.store in ("", "MY") and not subject:
                return  # the reference's default, empty certificate
            raise SMTPCertificateStoreError(f"cannot open certificate store: {_UNSUPPORTED_STORES[kind]}",
                                            271)
        if kind == CertStoreType.AUTO:
            kind = self._detect_kind()
        data = self._store_data(kind)
        key: Any = None
        certs: list[x509.Certificate] = []
        try:
            if kind in (CertStoreType.PFX_FILE, CertStoreType.PFX_BLOB):
                key, cert, extra = pkcs12.load_key_and_certificates(data, self._password())
                certs = ([cert] if cert is not None else []) + list(extra)
            elif kind in (CertStoreType.PEM_KEY_FILE, CertStoreType.PEM_KEY_BLOB):
                key, certs = _load_pem_objects(data, self._password())
                if key is None and not certs:
                    raise ValueError("no PEM private key or certificate found")
            elif kind in (CertStoreType.PUBLIC_KEY_FILE, CertStoreType.PUBLIC_KEY_BLOB):
                if b"-----BEGIN CERTIFICATE" in data or data[:1] == b"\x30":
                    certs = (x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data
                             else [x509.load_der_x509_certificate(data)])
                else:
                    self._public_key = (serialization.load_pem_public_key(data) if b"-----BEGIN" in data
                                        else serialization.load_der_public_key(data))
            elif kind in (CertStoreType.P7B_FILE, CertStoreType.P7B_BLOB):
                certs = (pkcs7.load_pem_pkcs7_certificates(data) if b"-----BEGIN" in data
                         else pkcs7.load_der_pkcs7_certificates(data))
            elif kind in (CertStoreType.SSH_PUBLIC_KEY_FILE, CertStoreType.SSH_PUBLIC_KEY_BLOB):
                self._public_key = serialization.load_ssh_public_key(data.strip())
        except SMTPTLSError:
            raise
        except TypeError as exc:  # cryptography: password missing / given for an unencrypted key
            raise SMTPCertificateStoreError(f"cannot open certificate store: {exc}", 271) from exc
        except ValueError as exc:
            msg = str(exc)
            if "password" in msg.lower() or "decrypt" in msg.lower():
                msg = "wrong password or corrupt data (" + msg + ")"
            raise SMTPCertificateStoreError(f"cannot open certificate store: {msg}", 271) from exc
        self._key = key
        if isinstance(subject, (bytes, bytearray)):
            self._set_encoded(bytes(subject))  # encoded overload: find the key for that certificate
            if not self._key_matches(self._cert):
                self._key = None
                self._subject = ""
            return
        if not certs:
            if key is not None:
                self._public_key = key.public_key()
            return
        chosen = self._select(certs, subject)
        self._cert = chosen
        self._chain = [c for c in certs if c is not chosen]
        self._subject = _format_name(chosen.subject)
        if not self._key_matches(chosen):
            self._key = None

    def _detect_kind(self) -> CertStoreType:
        if self.store and os.path.isfile(self.store):
            data = self._read_file(self.store)
            file_form = True
        else:
            data = _maybe_base64(self.store_b)
            file_form = False
        if re.search(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----", data):
            kind = CertStoreType.PEM_KEY_FILE if file_form else CertStoreType.PEM_KEY_BLOB
        elif b"-----BEGIN PKCS7" in data:
            kind = CertStoreType.P7B_FILE if file_form else CertStoreType.P7B_BLOB
        elif b"-----BEGIN" in data:
            kind = CertStoreType.PUBLIC_KEY_FILE if file_form else CertStoreType.PUBLIC_KEY_BLOB
        elif data.lstrip().startswith((b"ssh-", b"ecdsa-sha2-")):
            kind = CertStoreType.SSH_PUBLIC_KEY_FILE if file_form else CertStoreType.SSH_PUBLIC_KEY_BLOB
        elif data[:1] == b"\x30":
            kind = self._detect_der(data, file_form)
        else:
            raise SMTPCertificateStoreError("cannot open certificate store: the data is not PEM, DER, "
                                            "PKCS#7, PKCS#12 or an SSH public key", 271)
        if not file_form:
            self.store_b = data
        return kind

    def _detect_der(self, data: bytes, file_form: bool) -> CertStoreType:
        try:
            x509.load_der_x509_certificate(data)
            return CertStoreType.PUBLIC_KEY_FILE if file_form else CertStoreType.PUBLIC_KEY_BLOB
        except ValueError:
            pass
        try:
            pkcs7.load_der_pkcs7_certificates(data)
            return CertStoreType.P7B_FILE if file_form else CertStoreType.P7B_BLOB
        except ValueError:
            pass
        return CertStoreType.PFX_FILE if file_form else CertStoreType.PFX_BLOB

    def _select(self, certs: list[x509.Certificate], subject: str) -> x509.Certificate:
        if self._key is not None:  # the certificate that owns the key goes first
            certs = sorted(certs, key=lambda c: not self._key_matches(c))
        if not subject or subject == "*":
            return certs[0]
        if subject.lower().startswith("thumbprint="):
            wanted = _normalise_hex(subject.split("=", 1)[1])
            for cert in certs:
                der = cert.public_bytes(serialization.Encoding.DER)
                if wanted in (hashlib.md5(der).hexdigest(), hashlib.sha1(der).hexdigest(),
                              hashlib.sha256(der).hexdigest()):
                    return cert
        else:
            names = [(_format_name(c.subject), c) for c in certs]
            for name, cert in names:
                if name.lower() == subject.lower():
                    return cert
            for name, cert in names:
                if subject.lower() in name.lower():
                    return cert
        raise SMTPCertificateStoreError(f"cannot find certificate {subject!r} in the store", 272)

    def _key_matches(self, cert: x509.Certificate | None) -> bool:
        if self._key is None or cert is None:
            return False
        fmt = serialization.PublicFormat.SubjectPublicKeyInfo
        enc = serialization.Encoding.DER
        return bool(cert.public_key().public_bytes(enc, fmt) == self._key.public_key().public_bytes(enc, fmt))

    # ----------------------------------------------------------------- writable fields
    @property
    def key_password(self) -> str:
        """Password of the private key; defaults to ``store_password``."""
        return self.store_password if self._key_password is None else self._key_password

    @key_password.setter
    def key_password(self, value: str) -> None:
        self._key_password = value

    @property
    def subject(self) -> str:
        return self._subject

    @subject.setter
    def subject(self, value: str) -> None:
        """Select a certificate by subject in the current store (the reference's behaviour)."""
        self._open_store(value)

    @property
    def encoded(self) -> str:
        der = self.encoded_b
        return base64.b64encode(der).decode("ascii") if der else ""

    @encoded.setter
    def encoded(self, value: str | bytes) -> None:
        self._set_encoded(value)

    @property
    def encoded_b(self) -> bytes:
        return self._cert.public_bytes(serialization.Encoding.DER) if self._cert is not None else b""

    @encoded_b.setter
    def encoded_b(self, value: bytes) -> None:
        self._set_encoded(value)

    # ----------------------------------------------------------------- read-only fields
    @property
    def x509(self) -> x509.Certificate | None:
        """The ``cryptography`` certificate (None for an empty certificate or a bare key)."""
        return self._cert

    @property
    def chain(self) -> list[X509Certificate]:
        """Other certificates loaded with this one (intermediates from a PFX/PEM file, or the
        rest of the server's chain)."""
        return list(self._chain)

    @property
    def key(self) -> Any:
        """The ``cryptography`` private key, or None."""
        return self._key

    @property
    def is_empty(self) -> bool:
        return self._cert is None and self._public_key is None and self._key is None

    def _pubkey(self) -> Any:
        if self._cert is not None:
            return self._cert.public_key()
        return self._public_key

    @property
    def effective_date(self) -> str:
        return format_date(self._cert.not_valid_before_utc) if self._cert is not None else ""

    @property
    def expiration_date(self) -> str:
        return format_date(self._cert.not_valid_after_utc) if self._cert is not None else ""

    def _extension(self, oid: ObjectIdentifier) -> Any:
        if self._cert is None:
            return None
        try:
            return self._cert.extensions.get_extension_for_oid(oid).value
        except x509.ExtensionNotFound:
            return None

    @property
    def extended_key_usage(self) -> str:
        eku = self._extension(ExtensionOID.EXTENDED_KEY_USAGE)
        return ",".join(oid.dotted_string for oid in eku) if eku is not None else ""

    def _fingerprint_source(self) -> bytes:
        if self._cert is not None:
            return self.encoded_b
        pub = self._pubkey()
        if pub is None:
            return b""
        try:
            blob = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            return base64.b64decode(blob.split()[1])
        except (ValueError, IndexError):
            der: bytes = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            return der

    @property
    def fingerprint(self) -> str:
        src = self._fingerprint_source()
        return _colon_hex(hashlib.md5(src).digest()) if src else ""

    @property
    def fingerprint_sha1(self) -> str:
        src = self._fingerprint_source()
        return _colon_hex(hashlib.sha1(src).digest()) if src else ""

    @property
    def fingerprint_sha256(self) -> str:
        src = self._fingerprint_source()
        return _colon_hex(hashlib.sha256(src).digest()) if src else ""

    @property
    def thumbprint_md5(self) -> str:
        return hashlib.md5(self.encoded_b).hexdigest() if self._cert is not None else ""

    @property
    def thumbprint_sha1(self) -> str:
        return hashlib.sha1(self.encoded_b).hexdigest() if self._cert is not None else ""

    @property
    def thumbprint_sha256(self) -> str:
        return hashlib.sha256(self.encoded_b).hexdigest() if self._cert is not None else ""

    @property
    def issuer(self) -> str:
        return _format_name(self._cert.issuer) if self._cert is not None else ""

    @property
    def private_key(self) -> str:
        """The private key as unencrypted PKCS#8 PEM text ("" when there is none)."""
        if self._key is None:
            return ""
        pem: bytes = self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        return pem.decode("ascii")

    @property
    def private_key_available(self) -> bool:
        return self._key is not None

    @property
    def public_key(self) -> str:
        pub = self._pubkey()
        if pub is None:
            return ""
        pem: bytes = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return pem.decode("ascii")

    @property
    def public_key_algorithm(self) -> str:
        pub = self._pubkey()
        if isinstance(pub, rsa.RSAPublicKey):
            return "RSA"
        if isinstance(pub, ec.EllipticCurvePublicKey):
            return "EC"
        if isinstance(pub, ed25519.Ed25519PublicKey):
            return "Ed25519"
        if isinstance(pub, ed448.Ed448PublicKey):
            return "Ed448"
        if _is_dsa(pub):
            return "DSA"
        if self._cert is not None:
            return self._cert.public_key_algorithm_oid.dotted_string
        return ""

    @property
    def public_key_length(self) -> int:
        pub = self._pubkey()
        if isinstance(pub, rsa.RSAPublicKey):
            return pub.key_size
        if isinstance(pub, ec.EllipticCurvePublicKey):
            return pub.curve.key_size
        if isinstance(pub, ed25519.Ed25519PublicKey):
            return 256
        if isinstance(pub, ed448.Ed448PublicKey):
            return 456
        if _is_dsa(pub):
            return int(pub.key_size)  # (not narrowed by isinstance: _is_dsa asks)
        return 0

    @property
    def serial_number(self) -> str:
        if self._cert is None:
            return ""
        number = self._cert.serial_number
        length = max(1, (number.bit_length() + 7) // 8)
        return number.to_bytes(length, "big", signed=False).hex().upper()

    @property
    def signature_algorithm(self) -> str:
        if self._cert is None:
            return ""
        oid = self._cert.signature_algorithm_oid
        name = getattr(oid, "_name", "")
        return name if name and name != "Unknown OID" else oid.dotted_string

    @property
    def subject_alt_names(self) -> str:
        san = self._extension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        if san is None:
            return ""
        names = []
        for entry in san:
            value = entry.value
            if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network,
                                  ipaddress.IPv6Network)):
                names.append(str(value))
            elif isinstance(value, x509.Name):
                names.append(_format_name(value))
            elif isinstance(value, str):
                names.append(value)
            else:
                names.append(repr(value))
        return ", ".join(names)

    @property
    def usage_flags(self) -> int:
        usage = self._extension(ExtensionOID.KEY_USAGE)
        if usage is None:
            return 0
        flags = 0
        for attr, flag, _text in _KEY_USAGES:
            try:
                if getattr(usage, attr):
                    flags |= flag
            except ValueError:  # encipher_only is undefined unless key_agreement is set
                pass
        return flags

    @property
    def usage(self) -> str:
        flags = self.usage_flags
        return ", ".join(text for _a, flag, text in _KEY_USAGES if flags & flag)

    @property
    def version(self) -> str:
        if self._cert is None:
            return ""
        return "V1" if self._cert.version == x509.Version.v1 else "V3"

    # ----------------------------------------------------------------- helpers
    def matches(self, der: bytes) -> bool:
        """True when ``der`` is exactly this certificate (SHA-256 of the DER encodings)."""
        return self._cert is not None and hashlib.sha256(der).digest() == hashlib.sha256(self.encoded_b).digest()

    def pem(self, with_chain: bool = False) -> str:
        """The certificate (and optionally the rest of its chain) as PEM text."""
        certs = ([self._cert] if self._cert is not None else []) + (self._chain if with_chain else [])
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Certificate):
            return NotImplemented
        return self.encoded_b == other.encoded_b and self.public_key == other.public_key

    def __hash__(self) -> int:
        return hash(self.encoded_b)

    def __repr__(self) -> str:
        if self._cert is None:
            return "Certificate(<empty>)" if self.is_empty else "Certificate(<key only>)"
        return f"Certificate(subject={self.subject!r}, sha256={self.thumbprint_sha256[:16]}...)"

