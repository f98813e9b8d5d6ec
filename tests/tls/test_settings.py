"""Mapping of the reference's TLS settings to ssl: protocol bitmask, cipher names, refusals."""
from __future__ import annotations

import shutil
import ssl
import subprocess

import pytest

from smtpx import tls as T
from smtpx.tls.certificate import Certificate
from smtpx.errors import SMTPConfigError, SMTPTLSError


@pytest.mark.parametrize("mask, low, high", [
    (3072, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2),
    (12288, ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3),
    (0x3C00, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3),
    (4032, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2),   # TLS 1.0/1.1 bits are not offered
    (0x0400, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2),  # one bit of the pair is enough
    (0x3FFC, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3),
])
def test_protocol_mask_maps_to_versions(mask, low, high):
    assert T.protocol_range(mask) == (low, high)
    ctx = T.build_context(T.TLSSettings(enabled_protocols=mask))
    assert (ctx.minimum_version, ctx.maximum_version) == (low, high)


def test_default_includes_tls13():
    assert T.TLSSettings().enabled_protocols == T.DEFAULT_ENABLED_PROTOCOLS == 15360
    assert T.protocol_range(T.DEFAULT_ENABLED_PROTOCOLS)[1] == ssl.TLSVersion.TLSv1_3


@pytest.mark.parametrize("mask", [0, 12, 48, 192, 768, 960, 0x0001, 0x4000, -1])
def test_masks_with_nothing_usable_are_refused(mask):
    with pytest.raises(SMTPConfigError) as info:
        T.protocol_range(mask)
    assert "SSLEnabledProtocols" in info.value.description


def test_cipher_names_map_to_openssl():
    assert T.openssl_cipher_string("*") == (None, True)
    assert T.openssl_cipher_string("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256") == ("ECDHE-RSA-AES128-GCM-SHA256", False)
    string, tls13 = T.openssl_cipher_string(
        "TLS_RSA_WITH_AES_256_CBC_SHA; SSL_RSA_WITH_AES_128_CBC_SHA, " + ";".join(T.TLS13_SUITES))
    assert string == "AES256-SHA:AES128-SHA" and tls13


@pytest.mark.parametrize("name", ["SSL_RSA_WITH_RC4_128_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
                                  "SSL_RSA_EXPORT_WITH_DES40_CBC_SHA", "TLS_RSA_WITH_NULL_SHA256",
                                  "TLS_DH_anon_WITH_AES_128_CBC_SHA", "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA",
                                  "TLS_KRB5_WITH_RC4_128_SHA", "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"])
def test_removed_suites_are_refused_with_a_reason(name):
    with pytest.raises(SMTPConfigError) as info:
        T.openssl_cipher_string(name)
    assert "not available" in info.value.description


def test_unknown_suite_and_partial_tls13():
    with pytest.raises(SMTPConfigError) as info:
        T.openssl_cipher_string("TLS_MADE_UP_SUITE")
    assert "unknown cipher suite" in info.value.description
    with pytest.raises(NotImplementedError):
        T.openssl_cipher_string("TLS_AES_128_GCM_SHA256")


def test_only_tls13_suites_force_tls13_and_clash_with_tls12_only():
    ctx = T.build_context(T.TLSSettings(cipher_suites=";".join(T.TLS13_SUITES)))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    with pytest.raises(SMTPConfigError):
        T.build_context(T.TLSSettings(enabled_protocols=3072, cipher_suites=";".join(T.TLS13_SUITES)))
    with pytest.raises(SMTPConfigError):
        T.build_context(T.TLSSettings(enabled_protocols=12288, cipher_suites="TLS_RSA_WITH_AES_128_CBC_SHA"))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
def test_table_agrees_with_openssl():
    out = subprocess.run(["openssl", "ciphers", "-stdname", "ALL:@SECLEVEL=0"], capture_output=True,
                         text=True, check=True).stdout
    theirs = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "-":
            theirs[parts[0]] = parts[2]
    assert theirs, "could not read openssl's list"
    for iana, name in T.IANA_TO_OPENSSL.items():
        assert theirs.get(iana) == name, iana


def test_min_cipher_strength_filters_tls12_suites():
    ctx = T.build_context(T.TLSSettings(enabled_protocols=3072, cipher_strength_min=256))
    strengths = {c["strength_bits"] for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"}
    assert strengths == {256}
    with pytest.raises(NotImplementedError):
        T.build_context(T.TLSSettings(cipher_strength_min=256))  # TLS 1.3 enabled


@pytest.mark.parametrize("field, value", [("check_crl", 1), ("check_crl", 2), ("check_ocsp", 1)])
def test_unsupported_checks_are_not_ignored(field, value):
    with pytest.raises(NotImplementedError):
        T.build_context(T.TLSSettings(**{field: value}))


def test_renegotiation_switch():
    assert not T.build_context(T.TLSSettings()).options & ssl.OP_NO_RENEGOTIATION
    assert T.build_context(T.TLSSettings(enable_renegotiation=False)).options & ssl.OP_NO_RENEGOTIATION


def test_client_certificate_without_key_or_empty():
    import trustme

    leaf = trustme.CA().issue_cert("x.test")
    with pytest.raises(SMTPTLSError) as info:
        T.build_context(T.TLSSettings(client_cert=Certificate(leaf.cert_chain_pems[0].bytes())))
    assert info.value.code == 273
    T.build_context(T.TLSSettings(client_cert=Certificate()))  # empty = no client certificate
