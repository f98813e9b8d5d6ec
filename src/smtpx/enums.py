"""Enumerations named after the reference. Plain ints are accepted wherever these are."""
from __future__ import annotations

from enum import IntEnum


class AuthMechanism(IntEnum):
    USER_PASSWORD = 0  # AUTH LOGIN
    CRAM_MD5 = 1
    NTLM = 2
    APOP = 3  # a POP3 mechanism: refused with a clear error
    SASL_PLAIN = 4
    SASL_DIGEST_MD5 = 5
    KERBEROS = 6
    XOAUTH2 = 7
    # smtpx's own, after the reference's values (docs/sasl.md)
    SCRAM_SHA_1 = 8
    SCRAM_SHA_256 = 9
    SCRAM_SHA_1_PLUS = 10  # needs tls-exporter channel binding: refused (SMTPNotSupportedError)
    SCRAM_SHA_256_PLUS = 11  # same
    OAUTHBEARER = 12


class SSLStartMode(IntEnum):
    AUTOMATIC = 0
    IMPLICIT = 1
    EXPLICIT = 2
    NONE = 3


class SSLProvider(IntEnum):
    AUTOMATIC = 0
    PLATFORM = 1
    INTERNAL = 2


class Importance(IntEnum):
    UNSPECIFIED = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3


class Priority(IntEnum):
    UNSPECIFIED = 0
    NORMAL = 1
    URGENT = 2
    NON_URGENT = 3


class Sensitivity(IntEnum):
    UNSPECIFIED = 0
    PERSONAL = 1
    PRIVATE = 2
    COMPANY_CONFIDENTIAL = 3


class RecipientType(IntEnum):
    TO = 0
    CC = 1
    BCC = 2


class FirewallType(IntEnum):
    NONE = 0
    TUNNEL = 1
    SOCKS4 = 2
    SOCKS5 = 3
    SOCKS4A = 10


class CertStoreType(IntEnum):
    USER = 0
    MACHINE = 1
    PFX_FILE = 2
    PFX_BLOB = 3
    JKS_FILE = 4
    JKS_BLOB = 5
    PEM_KEY_FILE = 6
    PEM_KEY_BLOB = 7
    PUBLIC_KEY_FILE = 8
    PUBLIC_KEY_BLOB = 9
    SSH_PUBLIC_KEY_BLOB = 10
    P7B_FILE = 11
    P7B_BLOB = 12
    SSH_PUBLIC_KEY_FILE = 13
    PPK_FILE = 14
    PPK_BLOB = 15
    XML_FILE = 16
    XML_BLOB = 17
    JWK_FILE = 18
    JWK_BLOB = 19
    BCFKS_FILE = 21
    BCFKS_BLOB = 22
    PKCS11 = 23
    AUTO = 99


class Direction(IntEnum):
    CLIENT = 0
    SERVER = 1
    INFO = 2
