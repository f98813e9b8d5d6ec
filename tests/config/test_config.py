"""Every config setting: its default in the reference's string form, its type and validation,
case-insensitive names, aliases of properties, computed settings, and settings that cannot
apply here."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from smtpx import __version__
from smtpx.facade.config import SETTINGS, ConfigStore
from smtpx.errors import SMTPConfigError
from smtpx.facade.properties import Properties
from smtpx.types import Firewall

# The reference's config list (its lines 84-157), in its order.
REFERENCE_NAMES = """AllowEmptyTo AuthorizationIdentity Charset FoldHeaders Hello KeepQueue MaxHeaderLength
MessageHeadersString MessageIdAlgorithm OtherHeaders ReturnPath SendRSET StopOnBccErrors StopOnCcErrors
StopOnToErrors TransferText CloseStreamAfterTransfer ConnectionTimeout FirewallAutoDetect FirewallHost
FirewallListener FirewallPassword FirewallPort FirewallType FirewallUser KeepAliveInterval KeepAliveTime Linger
LingerTime LocalHost LocalPort MaxLineLength MaxTransferRate ProxyExceptionsList TCPKeepAlive TcpNoDelay UseIPv6
UseNTLMv2 LogSSLPackets ReuseSSLSession SSLCACerts SSLCheckCRL SSLCheckOCSP SSLCipherStrength SSLClientCACerts
SSLContextProtocol SSLEnabledCipherSuites SSLEnabledProtocols SSLEnableRenegotiation SSLIncludeCertChain
SSLKeyLogFile SSLNegotiatedCipher SSLNegotiatedCipherStrength SSLNegotiatedCipherSuite SSLNegotiatedKeyExchange
SSLNegotiatedKeyExchangeStrength SSLNegotiatedVersion SSLServerCACerts SSLTrustManagerFactoryAlgorithm
TLS12SignatureAlgorithms TLS12SupportedGroups TLS13KeyShareGroups TLS13SignatureAlgorithms TLS13SupportedGroups
AbsoluteTimeout FirewallData InBufferSize OutBufferSize BuildInfo GUIAvailable LicenseInfo MaskSensitiveData
UseDaemonThreads UseInternalSecurityAPI""".split()

# Defaults in the reference's string form, for every stored setting (the reference's value where
# it gives one; see docs/config.md).
DEFAULTS = {
    "AllowEmptyTo": "False", "AuthorizationIdentity": "", "Charset": "", "FoldHeaders": "True", "Hello": "",
    "KeepQueue": "False", "MaxHeaderLength": "80", "MessageIdAlgorithm": "SHA1", "SendRSET": "True",
    "StopOnBccErrors": "False", "StopOnCcErrors": "True", "StopOnToErrors": "True",
    "CloseStreamAfterTransfer": "True", "ConnectionTimeout": "0", "FirewallAutoDetect": "False",
    "FirewallHost": "", "FirewallListener": "False", "FirewallPassword": "", "FirewallPort": "0",
    "FirewallType": "0", "FirewallUser": "", "KeepAliveInterval": "0", "KeepAliveTime": "0", "Linger": "True",
    "LingerTime": "0", "LocalPort": "0", "MaxLineLength": "2048", "MaxTransferRate": "0",
    "ProxyExceptionsList": "", "TCPKeepAlive": "False", "TcpNoDelay": "False", "UseIPv6": "0",
    "UseNTLMv2": "True", "LogSSLPackets": "False", "ReuseSSLSession": "False", "SSLCACerts": "",
    "SSLCheckCRL": "0", "SSLCheckOCSP": "0", "SSLCipherStrength": "0", "SSLClientCACerts": "",
    "SSLContextProtocol": "TLS", "SSLEnabledCipherSuites": "*", "SSLEnabledProtocols": "15360",
    "SSLEnableRenegotiation": "True", "SSLIncludeCertChain": "False", "SSLKeyLogFile": "",
    "SSLServerCACerts": "", "SSLTrustManagerFactoryAlgorithm": "",
    "TLS12SupportedGroups": "ecdhe_secp256r1,ecdhe_secp384r1,ecdhe_secp521r1",
    "TLS13KeyShareGroups": "ecdhe_x25519,ecdhe_secp256r1,ecdhe_secp384r1,ffdhe_2048,ffdhe_3072",
    "AbsoluteTimeout": "False", "FirewallData": "", "InBufferSize": "0", "OutBufferSize": "0",
    "GUIAvailable": "True", "MaskSensitiveData": "True", "UseDaemonThreads": "False",
    "UseInternalSecurityAPI": "False",
    # smtpx's own
    "UseChunking": "True", "UsePipelining": "True", "AllowPlaintextAuth": "False", "DSNReturn": "",
    "DSNEnvelopeId": "", "MaxReplyLineLength": "8192", "MaxReplySize": "65536", "MaxReplyLines": "1000",
    "MaxReplyTime": "300", "ChunkSize": "1048576", "SpinWait": "50",
}

# A valid non-default value and a bad one, per kind of setting.
BY_KIND = {"bool": ("yes", "maybe"), "int": ("300", "12x"), "str": ("value", None)}


class Owner(Properties):
    def __init__(self) -> None:
        self._init_properties()
        self.local_host = ""
        self.firewall = Firewall()
        self._tls_info = None


def test_every_reference_setting_is_recognised():
    store = ConfigStore()
    names = {s.name for s in SETTINGS}
    assert set(REFERENCE_NAMES) <= names
    assert len(REFERENCE_NAMES) == len(set(REFERENCE_NAMES)) == 74
    for name in REFERENCE_NAMES:
        assert isinstance(store.config(name), str)


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_defaults_in_string_form(name):
    assert ConfigStore().config(name) == DEFAULTS[name]
    assert ConfigStore().config(name.upper()) == DEFAULTS[name]  # names are case-insensitive
    assert ConfigStore().config(name.lower()) == DEFAULTS[name]


STORED = [s for s in SETTINGS if s.applies in ("yes", "no")]


def _dkim_good_text(name: str) -> str:
    from tests.dkim.test_config import good_value

    return good_value(name)


@pytest.mark.parametrize("setting", STORED, ids=[s.name for s in STORED])
def test_each_stored_setting_validates_and_round_trips(setting):
    store = ConfigStore()
    if setting.kind == "enum":
        good = [c for c in setting.choices if c != setting.default][0]
        good_text = str(good).lower()  # enum strings match case-insensitively
        bad = "NOPE" if isinstance(good, str) else "99"
    else:
        good_text, bad = BY_KIND[setting.kind]
        if setting.kind == "int":
            low = setting.minimum or 0
            good_text = str(max(low, 300) if setting.maximum is None else min(max(low, 300), setting.maximum))
        if setting.name == "Charset":
            good_text = "ISO-8859-1"
        if setting.name == "DSNEnvelopeId":
            good_text = "QQ314159"
        if setting.name == "SSLServerCACerts":  # checked: it must be certificates OpenSSL loads
            good_text, bad = _ca_pem(), "/nonexistent/ca.pem"
        if setting.name.startswith("DKIM") and setting.kind == "str":  # checked by smtpx.dkim (tests/dkim)
            good_text = _dkim_good_text(setting.name)
    store.config(f"{setting.name}={good_text}")
    expected = {"yes": "True"}.get(good_text, good_text)
    if setting.kind == "enum":
        expected = str(good)
    assert store.config(setting.name) == expected
    typed = store.value(setting.name)
    assert isinstance(typed, {"bool": bool, "int": int, "str": str}.get(setting.kind, (int, str)))
    if bad is not None:
        with pytest.raises(SMTPConfigError) as info:
            store.config(f"{setting.name}={bad}")
        assert setting.name in str(info.value) and "allowed" in str(info.value) or "boolean" in str(info.value)
        assert store.config(setting.name) == expected  # unchanged after a bad value


@pytest.mark.parametrize("text, value", [("True", True), ("true", True), ("1", True), ("Yes", True),
                                         ("YES", True), ("False", False), ("0", False), ("no", False),
                                         ("nO", False), (" yes ", True)])
def test_bool_forms(text, value):
    store = ConfigStore()
    store.config(f"KeepQueue={text}")
    assert store.value("KeepQueue") is value
    assert store.config("KeepQueue") == ("True" if value else "False")


@pytest.mark.parametrize("bad", ["2", "", "on", "tru", "-1"])
def test_bad_bools(bad):
    with pytest.raises(SMTPConfigError, match="KeepQueue"):
        ConfigStore().config(f"KeepQueue={bad}")


@pytest.mark.parametrize("setting, bad", [("MaxHeaderLength", "19"), ("MaxHeaderLength", "999"),
                                          ("MaxLineLength", "255"), ("LocalPort", "65536"),
                                          ("LocalPort", "-1"), ("FirewallPort", "70000"),
                                          ("ConnectionTimeout", "-5"), ("SSLEnabledProtocols", "99999"),
                                          ("MaxHeaderLength", "８０"), ("MaxHeaderLength", "80.0")])
def test_int_ranges(setting, bad):
    with pytest.raises(SMTPConfigError, match=setting):
        ConfigStore().config(f"{setting}={bad}")


def test_unknown_and_read_only():
    store = ConfigStore()
    with pytest.raises(SMTPConfigError, match="unknown setting"):
        store.config("NoSuchSetting")
    with pytest.raises(SMTPConfigError, match="unknown setting"):
        store.config("NoSuchSetting=1")
    for name in ("MessageHeadersString", "TransferText", "BuildInfo", "LicenseInfo", "SSLNegotiatedVersion"):
        with pytest.raises(SMTPConfigError, match="read-only"):
            store.config(f"{name}=x")
    with pytest.raises(SMTPConfigError):
        store.config(42)  # type: ignore[arg-type]


def _ca_pem() -> str:
    import trustme

    return trustme.CA().cert_pem.bytes().decode().replace("\n", "\r\n")


def test_value_may_contain_equals_and_newlines():
    store = ConfigStore()
    pem = _ca_pem()
    store.config(f"SSLServerCACerts={pem}")
    assert store.config("SSLServerCACerts") == pem
    chain = "-----BEGIN CERTIFICATE-----\r\nAAA=\r\n-----END CERTIFICATE-----"
    store.config(f"SSLCACerts={chain}")
    assert store.config("SSLCACerts") == chain
    with pytest.raises(SMTPConfigError):
        store.config("Hello=evil\r\nRSET")


def test_python_values_via_set():
    store = ConfigStore()
    store.set("KeepQueue", True)
    store.set("MaxHeaderLength", 100)
    assert store.value("KeepQueue") is True and store.value("MaxHeaderLength") == 100
    with pytest.raises(SMTPConfigError):
        store.set("MaxHeaderLength", True)


def test_aliases_read_and_write_the_properties():
    owner = Owner()
    owner._config.config("OtherHeaders=X-Via-Config: 1")
    assert owner.other_headers == "X-Via-Config: 1"
    assert "X-Via-Config: 1\r\n" in owner.message_headers_string
    owner.return_path = "bounce@example.org"
    assert owner._config.config("returnpath") == "bounce@example.org"
    owner._config.config("ReturnPath=<>")
    assert owner.return_path == "<>"
    with pytest.raises(Exception):
        owner._config.config("ReturnPath=a@b@c")
    owner._config.config("LocalHost=192.0.2.7")
    assert owner.local_host == "192.0.2.7" and owner._config.config("LocalHost") == "192.0.2.7"


def test_aliases_without_an_owner_are_kept_in_the_store():
    store = ConfigStore()
    store.config("LocalHost=10.0.0.1")
    assert store.config("LocalHost") == "10.0.0.1"


def test_firewall_settings_are_the_firewall_property():
    owner = Owner()
    owner._config.config("FirewallType=2")
    assert owner.firewall.firewall_type == 2 and owner.firewall.port == 1080
    assert owner._config.config("FirewallPort") == "1080"
    owner._config.config("FirewallType=1")
    assert owner._config.config("FirewallPort") == "80"
    owner._config.config("FirewallHost=proxy.example")
    owner._config.config("FirewallPort=3128")
    assert (owner.firewall.host, owner.firewall.port) == ("proxy.example", 3128)
    owner.firewall.user = "u"
    assert owner._config.config("FirewallUser") == "u"
    with pytest.raises(SMTPConfigError):
        owner._config.config("FirewallType=4")
    store = ConfigStore()  # no owner: the reference's default ports still follow the type
    store.config("FirewallType=3")
    assert store.config("FirewallPort") == "1080"


def test_message_headers_string_and_transfer_text():
    owner = Owner()
    owner.from_ = "s@example.com"
    owner.send_to = "t@example.org"
    owner.message_id = "id@example.com"
    owner.message_date = ""
    assert owner._config.config("MessageHeadersString") == owner.message_headers_string
    assert owner._config.config("TransferText") == ""
    owner._last_sent = SimpleNamespace(headers_string="From: s@example.com\r\n\r\n", transfer_text="body\r\n")
    assert owner._config.config("MessageHeadersString") == "From: s@example.com\r\n\r\n"
    assert owner._config.config("TransferText") == "body\r\n"
    owner.subject = "changed"  # a new message: back to the headers that will be sent
    assert "Subject: changed" in owner._config.config("MessageHeadersString")
    assert owner._config.config("TransferText") == ""


def test_ssl_negotiated_settings():
    owner = Owner()
    assert owner._config.config("SSLNegotiatedCipher") == ""
    owner._tls_info = SimpleNamespace(version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384", cipher_strength=256,
                                      cipher_suite="TLS_AES_256_GCM_SHA384", key_exchange="ECDHE",
                                      key_exchange_strength=253)
    assert owner._config.config("SSLNegotiatedVersion") == "TLSv1.3"
    assert owner._config.config("sslnegotiatedcipherstrength") == "256"
    assert owner._config.config("SSLNegotiatedKeyExchange") == "ECDHE"
    assert owner._config.config("SSLNegotiatedKeyExchangeStrength") == "253"
    assert owner._config.config("SSLNegotiatedCipherSuite") == "TLS_AES_256_GCM_SHA384"


def test_build_and_license_info():
    info = ConfigStore().config("BuildInfo")
    assert __version__ in info and ("Cython" in info or "pure Python" in info)
    assert "MIT" in ConfigStore().config("LicenseInfo")


def test_settings_that_cannot_apply_are_listed_when_used():
    store = ConfigStore()
    assert store.unsupported_in_use() == []
    store.config("GUIAvailable=False")
    store.config("SSLCheckOCSP=2")
    store.config("TLS13SupportedGroups=ecdhe_x25519")
    store.config("UseInternalSecurityAPI=yes")
    listed = dict(store.unsupported_in_use())
    assert set(listed) == {"GUIAvailable", "SSLCheckOCSP", "TLS13SupportedGroups", "UseInternalSecurityAPI"}
    assert all(listed.values())  # each says why
    store.config("GUIAvailable=True")
    assert "GUIAvailable" not in dict(store.unsupported_in_use())


def test_reset():
    store = ConfigStore()
    store.config("KeepQueue=1")
    store.reset()
    assert store.config("KeepQueue") == "False"


def test_compose_reads_the_settings():
    """FoldHeaders / MaxHeaderLength / AllowEmptyTo / MessageIdAlgorithm / Charset /
    CloseStreamAfterTransfer have their effect on the message: see tests/compose."""
    from smtpx.message.compose import compose_message

    owner = Owner()
    owner.from_ = "s@example.com"
    owner.cc = "c@example.org"
    owner._config.config("AllowEmptyTo=True")
    assert compose_message(owner._message_spec()).envelope.recipients[0].address == "c@example.org"
