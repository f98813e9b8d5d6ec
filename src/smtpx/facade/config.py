"""Every config setting of the reference (plus smtpx's own): name, type, default, validation and
string form. ``docs/config.md`` has the table of what each setting means here.

``smtp.config("Name=Value")`` / ``smtp.config("Name")`` go through :meth:`ConfigStore.config`.
Consumers read typed values with ``store.value("Name")`` (bool, int or str).

Owner attributes this module reads and writes (the facade provides them; a missing attribute
falls back to a value kept in the store, so a store without an owner still works):

- ``owner.other_headers``        OtherHeaders (alias of the property)
- ``owner.return_path``          ReturnPath (alias of the property)
- ``owner.local_host``           LocalHost (alias of the property)
- ``owner.firewall``             FirewallAutoDetect/Host/Password/Port/Type/User (fields of the
                                 Firewall property, so both views stay in step)
- ``owner.message_headers_string`` MessageHeadersString before any send (computed headers)
- ``owner._last_sent``           MessageHeadersString and TransferText after a send: the
                                 ComposedMessage that went on the wire (None once a message
                                 property changed)
- ``owner._tls_info``             SSLNegotiated*: an object with version, cipher,
                                  cipher_strength, cipher_suite, key_exchange,
                                  key_exchange_strength (may be None: every SSLNegotiated* is "")
"""
from __future__ import annotations

import codecs
import re
import platform
from dataclasses import dataclass
from typing import Any, Callable

from smtpx.dkim import settings as dkim_settings
from smtpx.errors import SMTPConfigError
from smtpx.validators import check_no_controls, check_str, to_bool

__all__ = ["ConfigStore", "Setting", "SETTINGS"]

_INT_TEXT = re.compile(r"[+-]?[0-9]+\Z")  # ASCII digits only (int() takes others)


@dataclass(frozen=True)
class Setting:
    """One config setting.

    kind: "bool", "int", "str" or "enum" (choices are strings, matched case-insensitively, or
    ints). applies: "yes" (smtpx implements it), "computed" (read-only, derived), "alias" (a
    property seen through config), "no" (cannot apply here: accepted, documented, and listed by
    ConfigStore.unsupported_in_use() when set away from its default).
    """

    name: str
    kind: str
    default: Any
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[Any, ...] = ()
    applies: str = "yes"
    owner_attr: str | None = None   # alias: the owner attribute holding the value
    firewall_field: str | None = None
    getter: Callable[[Any], str] | None = None  # computed: owner -> string
    check: Callable[[str, Any], Any] | None = None  # extra validation for str settings
    # validation against the other settings: (store.value, name, the new typed value)
    check_with: Callable[[Callable[[str], Any], str, Any], None] | None = None
    why: str = ""  # for "no": why it cannot apply here


def _no_controls(name: str, value: str) -> str:
    return check_no_controls(value, f"config {name}", error=SMTPConfigError)


def _charset(name: str, value: str) -> str:
    value = value.strip()
    if value:
        try:
            codecs.lookup(value)
        except LookupError:
            raise SMTPConfigError(
                f"config {name}: unknown charset {value!r}; use a charset name Python knows, e.g. UTF-8 or ISO-8859-1"
            ) from None
    return value


def _envid(name: str, value: str) -> str:
    # RFC 3461: ENVID is xtext of printable US-ASCII; the engine xtext-encodes '+', '=' etc.
    if any(not (0x21 <= ord(c) <= 0x7E) for c in value):
        raise SMTPConfigError(f"config {name}: use printable ASCII without spaces (RFC 3461 ENVID)")
    if len(value) > 100:
        raise SMTPConfigError(f"config {name}: at most 100 characters (RFC 3461)")
    return value


def _ca_certs(name: str, value: str) -> str:
    """PEM text, a PEM file or a folder of PEM files; anything else is an error now, not a
    later "untrusted" (the check loads them into OpenSSL once)."""
    from smtpx.tls.verify import trust_anchors  # cryptography is loaded only when TLS is used

    trust_anchors(value, use_system=False)
    return value


def _tls(attr: str) -> Callable[[Any], str]:
    def get(owner: Any) -> str:
        info = getattr(owner, "_tls_info", None)
        if info is None:
            return ""
        value = getattr(info, attr, None)
        return "" if value is None else str(value)

    return get


def _headers_string(owner: Any) -> str:
    last = getattr(owner, "_last_sent", None)
    if last is not None:
        return str(last.headers_string)
    return getattr(owner, "message_headers_string", "") or ""


def _transfer_text(owner: Any) -> str:
    last = getattr(owner, "_last_sent", None)
    return "" if last is None else (last.transfer_text or "")


def _build_info(owner: Any) -> str:
    from smtpx import __version__, kernels

    return (f"smtpx {__version__}; kernels: {'compiled (Cython)' if kernels.IMPLEMENTATION == 'c' else 'pure Python'}; "
            f"{platform.python_implementation()} {platform.python_version()} on {platform.system()}")


def _license_info(owner: Any) -> str:
    return "smtpx is free software under the MIT license; no license key is needed."


_TLS12_SIGALGS = ("sha512-ecdsa,sha512-rsa,sha512-dsa,sha384-ecdsa,sha384-rsa,sha384-dsa,sha256-ecdsa,"
                  "sha256-rsa,sha256-dsa,sha224-ecdsa,sha224-rsa,sha224-dsa,sha1-ecdsa,sha1-rsa,sha1-dsa")
_TLS13_SIGALGS = ("ed25519,ed448,ecdsa_secp256r1_sha256,ecdsa_secp384r1_sha384,ecdsa_secp521r1_sha512,"
                  "rsa_pkcs1_sha256,rsa_pkcs1_sha384,rsa_pkcs1_sha512,rsa_pss_sha256,rsa_pss_sha384,rsa_pss_sha512")
_NOT_PROVIDER = "applies only to the reference's internal TLS provider; smtpx uses Python's ssl module (OpenSSL), which offers no such control"

_S = Setting
SETTINGS: tuple[Setting, ...] = (
    # --- SMTP settings -------------------------------------------------------------------
    _S("AllowEmptyTo", "bool", False),
    _S("AuthorizationIdentity", "str", ""),
    _S("Charset", "str", "", check=_charset),
    _S("FoldHeaders", "bool", True),
    _S("Hello", "str", "", check=_no_controls),
    _S("KeepQueue", "bool", False),
    _S("MaxHeaderLength", "int", 80, minimum=20, maximum=998),
    _S("MessageHeadersString", "str", "", applies="computed", getter=_headers_string),
    _S("MessageIdAlgorithm", "enum", "SHA1", choices=("MD5", "SHA1", "SHA256")),
    _S("OtherHeaders", "str", "", applies="alias", owner_attr="other_headers"),
    _S("ReturnPath", "str", "", applies="alias", owner_attr="return_path"),
    _S("SendRSET", "bool", True),
    _S("StopOnBccErrors", "bool", False),
    _S("StopOnCcErrors", "bool", True),
    _S("StopOnToErrors", "bool", True),
    _S("TransferText", "str", "", applies="computed", getter=_transfer_text),
    # --- TCPClient settings --------------------------------------------------------------
    _S("CloseStreamAfterTransfer", "bool", True),
    _S("ConnectionTimeout", "int", 0, minimum=0),
    _S("FirewallAutoDetect", "bool", False, firewall_field="auto_detect"),
    _S("FirewallHost", "str", "", firewall_field="host", check=_no_controls),
    _S("FirewallListener", "bool", False, applies="no",
       why="binding a SOCKS listener is a TCPClient server feature; an SMTP client only connects out"),
    _S("FirewallPassword", "str", "", firewall_field="password"),
    _S("FirewallPort", "int", 0, minimum=0, maximum=65535, firewall_field="port"),
    _S("FirewallType", "enum", 0, choices=(0, 1, 2, 3, 10), firewall_field="firewall_type"),
    _S("FirewallUser", "str", "", firewall_field="user"),
    _S("KeepAliveInterval", "int", 0, minimum=0),
    _S("KeepAliveTime", "int", 0, minimum=0),
    _S("Linger", "bool", True),
    _S("LingerTime", "int", 0, minimum=0, maximum=65535),
    _S("LocalHost", "str", "", applies="alias", owner_attr="local_host"),
    _S("LocalPort", "int", 0, minimum=0, maximum=65535),
    _S("MaxLineLength", "int", 2048, minimum=256),
    _S("MaxTransferRate", "int", 0, minimum=0),
    _S("ProxyExceptionsList", "str", "", check=_no_controls),
    _S("TCPKeepAlive", "bool", False),
    _S("TcpNoDelay", "bool", False),
    _S("UseIPv6", "enum", 0, choices=(0, 1, 2)),
    _S("UseNTLMv2", "bool", True),
    # --- SSL settings ----------------------------------------------------------------------
    _S("LogSSLPackets", "bool", False),
    _S("ReuseSSLSession", "bool", False),
    _S("SSLCACerts", "str", ""),
    _S("SSLCheckCRL", "enum", 0, choices=(0, 1, 2), applies="no",
       why="Python's ssl module cannot fetch CRLs during the handshake"),
    _S("SSLCheckOCSP", "enum", 0, choices=(0, 1, 2), applies="no",
       why="Python's ssl module has no OCSP client or stapling check"),
    _S("SSLCipherStrength", "int", 0, minimum=0),
    _S("SSLClientCACerts", "str", "", applies="no",
       why="used by a TLS server to check client certificates; smtpx is only a client"),
    _S("SSLContextProtocol", "str", "TLS", applies="no",
       why="a Java SSLContext name; Python's ssl always uses PROTOCOL_TLS_CLIENT (versions come from SSLEnabledProtocols)"),
    _S("SSLEnabledCipherSuites", "str", "*"),
    # 15360 = TLS 1.2 + TLS 1.3, not the reference's 4032 (TLS 1.0-1.2): OpenSSL 3 refuses
    # TLS 1.0/1.1, and a mail library in 2026 must offer TLS 1.3. See docs/config.md.
    _S("SSLEnabledProtocols", "int", 15360, minimum=0, maximum=0x3FFC),
    _S("SSLEnableRenegotiation", "bool", True),
    _S("SSLIncludeCertChain", "bool", False),
    _S("SSLKeyLogFile", "str", "", check=_no_controls),
    _S("SSLNegotiatedCipher", "str", "", applies="computed", getter=_tls("cipher")),
    _S("SSLNegotiatedCipherStrength", "str", "", applies="computed", getter=_tls("cipher_strength")),
    _S("SSLNegotiatedCipherSuite", "str", "", applies="computed", getter=_tls("cipher_suite")),
    _S("SSLNegotiatedKeyExchange", "str", "", applies="computed", getter=_tls("key_exchange")),
    _S("SSLNegotiatedKeyExchangeStrength", "str", "", applies="computed", getter=_tls("key_exchange_strength")),
    _S("SSLNegotiatedVersion", "str", "", applies="computed", getter=_tls("version")),
    _S("SSLServerCACerts", "str", "", check=_ca_certs),
    _S("SSLTrustManagerFactoryAlgorithm", "str", "", applies="no",
       why="a Java TrustManagerFactory name; Python's ssl verifies with OpenSSL"),
    _S("TLS12SignatureAlgorithms", "str", _TLS12_SIGALGS, applies="no", why=_NOT_PROVIDER),
    _S("TLS12SupportedGroups", "str", "ecdhe_secp256r1,ecdhe_secp384r1,ecdhe_secp521r1", applies="no", why=_NOT_PROVIDER),
    _S("TLS13KeyShareGroups", "str", "ecdhe_x25519,ecdhe_secp256r1,ecdhe_secp384r1,ffdhe_2048,ffdhe_3072",
       applies="no", why=_NOT_PROVIDER),
    _S("TLS13SignatureAlgorithms", "str", _TLS13_SIGALGS, applies="no", why=_NOT_PROVIDER),
    _S("TLS13SupportedGroups", "str",
       "ecdhe_x25519,ecdhe_x448,ecdhe_secp256r1,ecdhe_secp384r1,ecdhe_secp521r1,ffdhe_2048,ffdhe_3072,ffdhe_4096,ffdhe_6144,ffdhe_8192",
       applies="no", why=_NOT_PROVIDER),
    # --- Socket settings -------------------------------------------------------------------
    _S("AbsoluteTimeout", "bool", False),
    _S("FirewallData", "str", ""),
    _S("InBufferSize", "int", 0, minimum=0),
    _S("OutBufferSize", "int", 0, minimum=0),
    # --- Base settings -----------------------------------------------------------------------
    _S("BuildInfo", "str", "", applies="computed", getter=_build_info),
    _S("GUIAvailable", "bool", True, applies="no",
       why="there is no GUI message loop in Python; do_events() never dispatches window messages"),
    _S("LicenseInfo", "str", "", applies="computed", getter=_license_info),
    _S("MaskSensitiveData", "bool", True),
    _S("UseDaemonThreads", "bool", False, applies="no",
       why="smtpx starts no threads of its own, so there is nothing to make a daemon"),
    _S("UseInternalSecurityAPI", "bool", False, applies="no",
       why="smtpx has no TLS implementation of its own; it always uses Python's ssl module"),
    # --- smtpx's own settings ----------------------------------------------------------------
    _S("UseChunking", "bool", True),
    _S("UsePipelining", "bool", True),
    _S("AllowPlaintextAuth", "bool", False),
    # Pick the strongest mechanism the server offers instead of AuthMechanism (smtpx.sasl.choice).
    _S("AuthMechanismAuto", "bool", False),
    _S("DSNReturn", "enum", "", choices=("", "FULL", "HDRS")),
    _S("DSNEnvelopeId", "str", "", check=_envid),
    # REQUIRETLS on MAIL FROM (RFC 8689); refused before MAIL without TLS or the extension.
    _S("RequireTLS", "bool", False),
    _S("MaxReplyLineLength", "int", 8192, minimum=512, maximum=1 << 24),
    _S("MaxReplySize", "int", 65536, minimum=512, maximum=1 << 28),
    _S("MaxReplyLines", "int", 1000, minimum=1, maximum=1 << 20),
    # Seconds for one whole server reply, from its first byte (0 = none); RFC 5321 4.5.3.2's
    # 5 minutes. The inactivity timeout restarts on every byte, so a trickling server needs it.
    _S("MaxReplyTime", "int", 300, minimum=0),
    # Microseconds a read polls without sleeping before it sleeps (0 = never): a fast server's
    # reply comes sooner than a sleeping thread wakes (smtpx.transport.stream). Sync SMTP only.
    _S("SpinWait", "int", 50, minimum=0, maximum=1_000_000),
    _S("ChunkSize", "int", 1 << 20, minimum=1024, maximum=1 << 30),
    # DKIM signing (smtpx.dkim.settings): a signer made from these when no dkim property is set
    _S("DKIMDomain", "str", "", check=dkim_settings.check_domain, check_with=dkim_settings.check_together),
    _S("DKIMSelector", "str", "", check=dkim_settings.check_selector, check_with=dkim_settings.check_together),
    _S("DKIMPrivateKey", "str", "", check=dkim_settings.check_private_key, check_with=dkim_settings.check_together),
    _S("DKIMPrivateKeyFile", "str", "", check=dkim_settings.check_private_key_file,
       check_with=dkim_settings.check_together),
    _S("DKIMHeaders", "str", "", check=dkim_settings.check_headers),
    _S("DKIMCanonicalization", "str", "relaxed/relaxed", check=dkim_settings.check_canonicalization),
    _S("DKIMOversignFrom", "bool", False),
    _S("DKIMExpire", "int", 0, minimum=0, maximum=1 << 31),
)

_BY_KEY: dict[str, Setting] = {s.name.lower(): s for s in SETTINGS}
_DEFAULTS: dict[str, Any] = {key: s.default for key, s in _BY_KEY.items() if s.applies not in ("computed", "alias")}


def _describe_allowed(s: Setting) -> str:
    if s.kind == "bool":
        return "True, False, 0, 1, Yes or No"
    if s.kind == "enum":
        return ", ".join(repr(c) if isinstance(c, str) else str(c) for c in s.choices)
    if s.kind == "int":
        lo = "" if s.minimum is None else f">= {s.minimum}"
        hi = "" if s.maximum is None else f"<= {s.maximum}"
        return "an integer " + " and ".join(x for x in (lo, hi) if x) if (lo or hi) else "an integer"
    return "a string"


class ConfigStore:
    """The config settings of one SMTP object.

    Owner attributes read/written (missing ones fall back to the store): other_headers,
    return_path, local_host, firewall (Firewall* settings), message_headers_string,
    _last_sent, _tls_info. Details in the module docstring."""

    __slots__ = ("_owner", "_values", "_explicit", "version")

    def __init__(self, owner: Any = None) -> None:
        self._owner = owner
        self._values: dict[str, Any] = {}
        # Bumped by every set() and reset() (and by owner properties that feed the engine
        # options, through changed()): consumers cache what they derive from the settings.
        self.version = 0
        self.reset()

    # --- lookup ------------------------------------------------------------------------------
    @staticmethod
    def setting(name: str) -> Setting:
        found = _BY_KEY.get(name.strip().lower()) if isinstance(name, str) else None
        if found is None:
            raise SMTPConfigError(f"config: unknown setting {name!r}")
        return found

    @staticmethod
    def names() -> list[str]:
        return [s.name for s in SETTINGS]

    def reset(self) -> None:
        """Every stored setting back to its default (aliases belong to their properties)."""
        self._values = dict(_DEFAULTS)
        self._explicit: set[str] = set()  # names the user has set since the last reset
        self.version += 1

    def changed(self) -> None:
        """Something the settings feed on changed outside the store (an owner property)."""
        self.version += 1

    def is_set(self, name: str) -> bool:
        """True once the user has set ``name`` (since the last reset), even to its default."""
        return self.setting(name).name.lower() in self._explicit

    # --- typed access ------------------------------------------------------------------------
    def value(self, name: str) -> Any:
        """The typed value: bool, int or str."""
        values = self._values
        key = name.lower()
        if key in values:
            s = _BY_KEY[key]
            if s.firewall_field is not None:
                fw = getattr(self._owner, "firewall", None)
                if fw is not None:
                    return getattr(fw, s.firewall_field)
            if key == "localport":
                # While connected, LocalPort shows the port actually bound (as LocalHost does).
                live = getattr(self._owner, "_local_port", None)
                port = live() if live is not None else None
                if port:
                    return port
            return values[key]
        s = self.setting(name)
        if s.applies == "computed":
            return s.getter(self._owner)  # type: ignore[misc]
        # alias
        if self._owner is not None and hasattr(self._owner, s.owner_attr):  # type: ignore[arg-type]
            return getattr(self._owner, s.owner_attr)  # type: ignore[arg-type]
        return self._values.get("alias:" + s.name.lower(), s.default)

    def get(self, name: str) -> str:
        """The value in the reference's string form (bools as "True"/"False")."""
        s = self.setting(name)
        v = self.value(s.name)
        if isinstance(v, bool):
            return "True" if v else "False"
        return str(int(v)) if isinstance(v, int) else str(v)

    def set(self, name: str, value: Any) -> None:
        """Validate and store; SMTPConfigError names the setting and what it accepts."""
        s = self.setting(name)
        if s.applies == "computed":
            raise SMTPConfigError(f"config {s.name}: the setting is read-only")
        typed = self._convert(s, value)
        if s.check_with is not None:
            s.check_with(self.value, s.name, typed)
        self.version += 1
        if s.applies == "alias":
            if self._owner is not None and hasattr(self._owner, s.owner_attr):  # type: ignore[arg-type]
                setattr(self._owner, s.owner_attr, typed)  # type: ignore[arg-type]
            else:
                self._values["alias:" + s.name.lower()] = typed
            return
        key = s.name.lower()
        self._explicit.add(key)
        if s.firewall_field is not None:
            fw = getattr(self._owner, "firewall", None)
            if fw is not None:
                setattr(fw, s.firewall_field, typed)
                return
            if s.name == "FirewallType":  # keep the reference's default ports without an owner too
                from smtpx.types import FIREWALL_DEFAULT_PORTS

                self._values["firewallport"] = FIREWALL_DEFAULT_PORTS[typed]
        self._values[key] = typed

    def _convert(self, s: Setting, value: Any) -> Any:
        name = s.name
        if s.kind == "bool":
            return to_bool(value, f"config {name}", words=True, error=SMTPConfigError)
        if s.kind == "int" or (s.kind == "enum" and isinstance(s.choices[0], int)):
            if isinstance(value, bool):
                raise SMTPConfigError(f"config {name}: {value!r} is not valid; allowed: {_describe_allowed(s)}")
            try:
                if isinstance(value, str):
                    if not _INT_TEXT.match(value.strip()):
                        raise ValueError
                    number = int(value.strip())
                else:
                    number = int(value)
            except (ValueError, TypeError):
                raise SMTPConfigError(f"config {name}: {value!r} is not valid; allowed: {_describe_allowed(s)}") from None
            if s.kind == "enum":
                if number not in s.choices:
                    raise SMTPConfigError(f"config {name}: {value!r} is not valid; allowed: {_describe_allowed(s)}")
                return number
            if (s.minimum is not None and number < s.minimum) or (s.maximum is not None and number > s.maximum):
                raise SMTPConfigError(f"config {name}: {value!r} is out of range; allowed: {_describe_allowed(s)}")
            return number
        check_str(value, f"config {name}", error=SMTPConfigError)
        if s.kind == "enum":
            wanted = value.strip().upper()
            for choice in s.choices:
                if choice.upper() == wanted:
                    return choice
            raise SMTPConfigError(f"config {name}: {value!r} is not valid; allowed: {_describe_allowed(s)}")
        if s.check is not None:
            return s.check(name, value)
        return value

    # --- the config() method -----------------------------------------------------------------
    def config(self, configuration_string: str) -> str:
        """``"Name=Value"`` sets (returns ""); ``"Name"`` returns the value as a string."""
        if not isinstance(configuration_string, str):
            raise SMTPConfigError("config: expected a string such as 'Name=Value' or 'Name'")
        name, eq, value = configuration_string.partition("=")
        if not eq:
            return self.get(name)
        self.set(name, value)
        return ""

    # --- settings that cannot apply ------------------------------------------------------------
    def unsupported_in_use(self) -> list[tuple[str, str]]:
        """(name, why) for every setting that cannot apply here and is set away from its default.
        The facade raises SMTPNotSupportedError naming these before connecting."""
        out = []
        for s in SETTINGS:
            if s.applies == "no" and self._values[s.name.lower()] != s.default:
                out.append((s.name, s.why))
        return out
