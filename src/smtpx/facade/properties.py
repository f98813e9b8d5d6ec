"""The settable properties of smtpx.SMTP and smtpx.aio.AsyncSMTP, declared in one table.

The body of :class:`Properties` is the table, one :class:`Prop` per property, as SETTINGS is
for the config settings (smtpx.facade.config). A row says:

- the type: ``Prop[read type, write type]`` (a type checker sees ``smtp.mail_port`` as ``int``
  and refuses ``smtp.mail_port = "25"``); enums read as the enum and take its int values too;
- the default (``new`` builds a fresh one for mutable values);
- the check a new value goes through (smtpx.validators, smtpx.message.fields): it raises
  SMTPInputError and leaves the value unchanged, or returns the value to keep;
- ``label``: the name the error messages use (the reference's name for message properties);
- the reset group: CONNECTION and BODY rows go back to their defaults on ``reset()``, HEADERS
  rows on ``reset()`` and ``reset_headers()``;
- ``locked``: the reference's error (code, name) when it changes while connected;
- for the few that need it: ``get`` / ``set`` (views of another property, such as send_to of
  message_recipients), ``after`` (what a change sets off).

A message property change (HEADERS or BODY) forgets the message last sent, so that
config("MessageHeadersString") shows the headers the next send will use.

The message the properties describe is handed to composition as an immutable value,
``_message_spec()`` (smtpx.message.spec.MessageSpec), built once per send.
"""
from __future__ import annotations

import ssl
from collections.abc import Iterable
from operator import attrgetter, itemgetter
from typing import IO, TYPE_CHECKING, Any, Callable, Generic, TypeVar, overload

from smtpx.enums import AuthMechanism, Importance, Priority, RecipientType, Sensitivity, SSLProvider, SSLStartMode
from smtpx.dkim.apply import Signers, check_signers
from smtpx.dkim.settings import SETTING_NAMES as DKIM_SETTING_NAMES
from smtpx.dkim.settings import signer_from_settings
from smtpx.dkim.signer import DKIMSigner
from smtpx.errors import SMTPInputError
from smtpx.facade.config import ConfigStore
from smtpx.facade.recipients import RecipientList, add_recipients, recipients_of_type
from smtpx.message.addresses import parse_address_list, parse_mailbox, parse_reverse_path
from smtpx.message.compose import ComposedMessage, preview_headers
from smtpx.message.fields import check_message_id, check_single_line, parse_other_headers
from smtpx.message.spec import PROPERTY_FIELDS, MessageSettings, MessageSpec, parse_recipients
from smtpx.tls.certificate import Certificate
from smtpx.types import Firewall, Header, MessageRecipient
from smtpx.validators import check_int, check_str, check_text, enum_of, instance_of, optional, to_bool

__all__ = ["Prop", "Properties", "PROPERTIES", "CONNECTION", "HEADERS", "BODY"]

G = TypeVar("G")  # the type a property reads as
S = TypeVar("S")  # the type it may be set to

# Reset groups.
CONNECTION = "connection"  # reset()
HEADERS = "headers"  # reset() and reset_headers()
BODY = "body"  # reset()


class Prop(property, Generic[G, S]):
    """One row of the property table: a property whose getter and setter come from it."""

    def __init__(self, default: G | None = None, check: Callable[[Any, str], G] | None = None, *,
                 group: str | None = None, doc: str, label: str = "", new: Callable[[Any], G] | None = None,
                 locked: tuple[int, str] | None = None, get: Callable[[Any], G] | None = None,
                 set: Callable[[Any, S, str], None] | None = None, after: Callable[[Any], None] | None = None) -> None:
        # property.__init__ runs in __set_name__, once the row knows its name.
        self.default = default
        self.check = check
        self.group = group
        self.label = label
        self.new = new
        self.locked = locked
        self.custom_get = get
        self.custom_set = set
        self.after = after
        self.row_doc = doc
        self.name = self.attr = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.attr = "_" + name.rstrip("_")  # from_ -> _from
        self.label = self.label or name
        getter = self.custom_get or attrgetter(self.attr)
        property.__init__(self, getter, self._setter(), None, self.row_doc)

    def _setter(self) -> Callable[[Any, Any], None]:
        label, attr, locked, after, custom, check = self.label, self.attr, self.locked, self.after, self.custom_set, self.check
        message = self.group in (HEADERS, BODY)

        def set_value(obj: Any, value: Any) -> None:
            if locked is not None and obj.connected:
                code, what = locked
                raise SMTPInputError(f"You cannot change the {what} at this time. A connection is in progress.", code)
            if custom is not None:
                custom(obj, value, label)
                return
            assert check is not None
            values = obj.__dict__
            values[attr] = check(value, label)
            if after is not None:
                after(obj)
            if message:
                values["_last_sent"] = None  # obj._message_changed(), without the call

        return set_value

    if TYPE_CHECKING:
        @overload
        def __get__(self, instance: None, owner: type | None = None, /) -> Prop[G, S]: ...
        @overload
        def __get__(self, instance: object, owner: type | None = None, /) -> G: ...
        def __get__(self, instance: object, owner: type | None = None, /) -> Any: ...
        def __set__(self, instance: object, value: S, /) -> None: ...


# ================================================================================== checks
def _server_name(value: Any, what: str) -> str:
    return check_text(value, what).strip()


def _port(value: Any, what: str) -> int:
    if type(value) is int and value == 0:
        raise SMTPInputError("RemotePort cannot be zero. Please specify a valid service port number.", 116)
    return check_int(value, what, 1, 65535)


def _seconds(value: Any, what: str) -> int:
    return check_int(value, what, 0)


def _when_set(parse: Callable[[str, str], object]) -> Callable[[Any, str], str]:
    """A one-line value that ``parse`` must accept unless it is blank (no address)."""
    def check(value: Any, what: str) -> str:
        text = check_single_line(value, what)
        if text.strip():
            parse(text, what)
        return text

    return check


_one_address = _when_set(parse_mailbox)  # From
_address_list = _when_set(parse_address_list)  # ReplyTo, DeliveryNotificationTo, ReadReceiptTo
_reverse_path = _when_set(parse_reverse_path)  # ReturnPath: one address, or "<>"


def _other_headers(value: Any, what: str) -> str:
    text = check_str(value, what)
    parse_other_headers(text, what)
    return text


def _message_bytes(value: Any, what: str) -> bytes:
    if isinstance(value, str):
        raise SMTPInputError(f"{what}: expected bytes (use message_text for a str)")
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise SMTPInputError(f"{what}: expected bytes, not {type(value).__name__}")
    return bytes(value)


_certificate = optional(instance_of(Certificate, "a smtpx.Certificate or None"))


def _token_provider(value: Any, what: str) -> Callable[[], str] | None:
    if value is not None and not callable(value):
        raise SMTPInputError(f"{what} must be a callable returning an OAuth token, or None")
    return value  # type: ignore[no-any-return]


# ================================================================================== views, effects
def _local_host(obj: Any) -> str:
    """While connected, the local address in use; else the one set."""
    address: str | None = obj._local_address() if obj.connected else None
    stored: str = obj._local_host
    return address if address is not None else stored


def _ssl_enabled(obj: Any) -> bool:
    return bool(obj.ssl_start_mode != SSLStartMode.NONE)


def _set_ssl_enabled(obj: Any, value: Any, what: str) -> None:
    if to_bool(value, what):
        if obj.ssl_start_mode == SSLStartMode.NONE:
            obj.ssl_start_mode = SSLStartMode.AUTOMATIC
    else:
        obj.ssl_start_mode = SSLStartMode.NONE


def _recipients_of(kind: RecipientType) -> Callable[[Any], str]:
    return lambda obj: recipients_of_type(obj.message_recipients, kind)


def _add_recipients(kind: RecipientType) -> Callable[[Any, Any, str], None]:
    return lambda obj, value, what: add_recipients(obj.message_recipients, kind, value, what)


def _replace_recipients(obj: Any, value: Any, what: str) -> None:
    obj.message_recipients.replace(value)


def _dkim(obj: Any) -> DKIMSigner | tuple[DKIMSigner, ...] | None:
    """The dkim property, or else the signer the DKIM* config settings make (made again only
    when they change; settings given in part are an SMTPConfigError here, before a send)."""
    explicit: DKIMSigner | tuple[DKIMSigner, ...] | None = obj.__dict__.get("_dkim")
    if explicit is not None:
        return explicit
    config = obj._config
    cached = obj.__dict__.get("_dkim_from_config")
    if cached is not None and cached[0] == config.version:  # no setting changed: every send's case
        return cached[2]  # type: ignore[no-any-return]
    value = config.value
    values = tuple(value(name) for name in DKIM_SETTING_NAMES)
    signer = cached[2] if cached is not None and cached[1] == values else signer_from_settings(value)
    obj.__dict__["_dkim_from_config"] = (config.version, values, signer)
    return signer


def _options_changed(obj: Any) -> None:
    obj._config.changed()  # allow_extensions feeds the engine options (FacadeBase._refresh_options)


def _message_drops_stream(obj: Any) -> None:
    if obj.message:
        obj._message_stream = None  # non-empty bytes win over a stream set before


# ================================================================================== the table
class Properties:
    """The reference's properties (see the module docstring); the class body is the table.

    Used as the base of the facades, or alone (tests): ``_init_properties()`` puts every
    property and config setting at its default. The facade overrides ``connected`` and
    ``_local_address()``."""

    _config: ConfigStore
    _message_stream: IO[bytes] | None
    _last_sent: ComposedMessage | None  # what went on the wire last, for config()
    _message_settings: tuple[int, MessageSettings]  # the config version they come from, and them
    _last_spec: tuple[tuple[Any, ...], tuple[tuple[str, str, str, int], ...], MessageSpec] | None = None

    # --- connection ----------------------------------------------------------------------------
    allow_extensions = Prop[bool, bool](
        True, to_bool, group=CONNECTION, after=_options_changed,
        doc="EHLO and ESMTP extensions (True), or plain HELO (False).")
    auth_mechanism = Prop[AuthMechanism, int](
        AuthMechanism.USER_PASSWORD, enum_of(AuthMechanism), group=CONNECTION,
        doc="The SASL mechanism used when user (and password) are set.")
    dkim = Prop[DKIMSigner | tuple[DKIMSigner, ...] | None, Signers](
        None, check_signers, group=CONNECTION, get=_dkim,
        doc="DKIM signing (smtpx's own): a smtpx.dkim.DKIMSigner, a list of them (each adds a "
            "DKIM-Signature), or None. Applied to send_raw, send_message and send_batch's bytes and "
            "EmailMessage items when they are sent. None: the signer the DKIM* config settings "
            "make, if any. See docs/dkim.md.")
    firewall = Prop[Firewall, Firewall](
        new=lambda _: Firewall(), check=instance_of(Firewall, "a smtpx.Firewall"), group=CONNECTION,
        doc="The proxy to connect through (smtpx.types.Firewall); also seen as Firewall* config.")
    local_host = Prop[str, str](
        "", check_text, group=CONNECTION, locked=(107, "LocalHost"), get=_local_host,
        doc="The local interface to connect from; while connected, the local address in use.")
    mail_port = Prop[int, int](
        25, _port, group=CONNECTION, locked=(100, "MailPort"),
        doc="The server port (default 25).")
    mail_server = Prop[str, str](
        "", _server_name, group=CONNECTION, locked=(101, "MailServer"),
        doc='The mail relay\'s name or address ("*name" lets a SOCKS proxy resolve it).')
    oauth_token = Prop[str, str](
        "", check_str, group=CONNECTION,
        doc="The OAuth 2.0 bearer token for XOAUTH2 and OAUTHBEARER (smtpx's own; when empty, "
            "AuthorizationIdentity holds it as in the reference). See docs/sasl.md.")
    password = Prop[str, str](
        "", check_str, group=CONNECTION,
        doc="The password for AUTH.")
    ssl_accept_server_cert = Prop[Certificate | None, Certificate | None](
        None, _certificate, group=CONNECTION,
        doc="A Certificate accepted as the server's even when verification fails (or None).")
    ssl_cert = Prop[Certificate | None, Certificate | None](
        None, _certificate, group=CONNECTION,
        doc="The client Certificate presented during the TLS handshake (or None).")
    ssl_context = Prop[ssl.SSLContext | None, ssl.SSLContext | None](
        None, optional(instance_of(ssl.SSLContext, "an ssl.SSLContext or None")), group=CONNECTION,
        doc="The user's own ``ssl.SSLContext`` for the handshake (as smtplib and aiosmtplib take it), or "
            "None for one built from the SSL settings. A verifying context (CERT_REQUIRED) gives OpenSSL's "
            "verdict in the handshake, which no handler or pin can overrule; a CERT_NONE context leaves "
            "verification to smtpx (see smtpx.tls).")
    ssl_enabled = Prop[bool, bool](
        get=_ssl_enabled, set=_set_ssl_enabled,
        doc="Whether TLS is used; follows ssl_start_mode (True = anything but NONE).")
    ssl_provider = Prop[SSLProvider, int](
        SSLProvider.AUTOMATIC, enum_of(SSLProvider), group=CONNECTION,
        doc="Accepted for compatibility: every value uses Python's ssl module (OpenSSL), the only TLS "
            "implementation smtpx has.")
    ssl_start_mode = Prop[SSLStartMode, int](
        SSLStartMode.NONE, enum_of(SSLStartMode), group=CONNECTION,
        doc="AUTOMATIC (explicit on ports 25/587, implicit elsewhere), IMPLICIT, EXPLICIT or NONE.")
    timeout = Prop[int, int](
        60, _seconds, group=CONNECTION,
        doc="Seconds of inactivity before an operation fails (0 = wait for ever).")
    token_provider = Prop[Callable[[], str] | None, Callable[[], str] | None](
        None, _token_provider, group=CONNECTION,
        doc="A callable smtpx calls for a fresh OAuth token at each XOAUTH2 / OAUTHBEARER "
            "authentication (smtpx's own); it wins over oauth_token. See docs/sasl.md.")
    user = Prop[str, str](
        "", check_text, group=CONNECTION,
        doc="The user name for AUTH.")

    # --- message headers (and recipients) ------------------------------------------------------
    from_ = Prop[str, str](
        "", _one_address, group=HEADERS, label="From",
        doc='The sender (one address, ``"Name" <addr>`` or ``addr``): the From header, and MAIL FROM '
            "unless return_path is set.")
    message_recipients = Prop[RecipientList, Iterable[MessageRecipient]](
        new=RecipientList, set=_replace_recipients, group=HEADERS,
        doc="The recipients, each with a type (To, Cc, BCc); send_to, cc and bcc are views of it. "
            "Setting it replaces them all.")
    send_to = Prop[str, str](
        get=_recipients_of(RecipientType.TO), set=_add_recipients(RecipientType.TO), label="SendTo",
        doc='The To recipients, comma-separated (a view of message_recipients: setting it adds them; "" '
            "removes them).")
    cc = Prop[str, str](
        get=_recipients_of(RecipientType.CC), set=_add_recipients(RecipientType.CC), label="Cc",
        doc="The Cc recipients, comma-separated (a view of message_recipients, as send_to).")
    bcc = Prop[str, str](
        get=_recipients_of(RecipientType.BCC), set=_add_recipients(RecipientType.BCC), label="BCc",
        doc="The BCc recipients (envelope only, never in a header; a view of message_recipients).")
    reply_to = Prop[str, str](
        "", _address_list, group=HEADERS, label="ReplyTo",
        doc="The Reply-To addresses.")
    return_path = Prop[str, str](
        "", _reverse_path, group=HEADERS, label="ReturnPath",
        doc='MAIL FROM, when set (one address, or "<>" for the null reverse path); else From.')
    delivery_notification_to = Prop[str, str](
        "", _address_list, group=HEADERS, label="DeliveryNotificationTo",
        doc="Adds a Return-Receipt-To header.")
    read_receipt_to = Prop[str, str](
        "", _address_list, group=HEADERS, label="ReadReceiptTo",
        doc="Adds a Disposition-Notification-To header.")
    subject = Prop[str, str](
        "", check_single_line, group=HEADERS, label="Subject",
        doc="The Subject header.")
    message_date = Prop[str, str](
        "*", check_single_line, group=HEADERS, label="MessageDate",
        doc='"*" (default): the current time; "": no Date header; else used as given.')
    message_id = Prop[str, str](
        "*", check_message_id, group=HEADERS, label="MessageId",
        doc='"*" (default): a random unique id; "": no Message-ID header; else the id (angle brackets '
            "added when missing).")
    importance = Prop[Importance, int](
        Importance.UNSPECIFIED, enum_of(Importance), group=HEADERS, label="Importance",
        doc="The Importance header (UNSPECIFIED: none).")
    priority = Prop[Priority, int](
        Priority.UNSPECIFIED, enum_of(Priority), group=HEADERS, label="Priority",
        doc="The Priority header (UNSPECIFIED: none).")
    sensitivity = Prop[Sensitivity, int](
        Sensitivity.UNSPECIFIED, enum_of(Sensitivity), group=HEADERS, label="Sensitivity",
        doc="The Sensitivity header (UNSPECIFIED: none).")
    other_headers = Prop[str, str](
        "", _other_headers, group=HEADERS, label="OtherHeaders",
        doc="Extra ``Name: value`` lines appended to the computed headers; when the value starts with an "
            "empty line, it replaces them.")

    # --- body: message_text, message (bytes), or set_message_stream(); the stream wins, then message
    message_text = Prop[str, str](
        "", check_str, group=BODY, label="MessageText",
        doc="The body as text, encoded with the Charset setting.")
    message = Prop[bytes, bytes | bytearray | memoryview](
        b"", _message_bytes, group=BODY, label="Message", after=_message_drops_stream,
        doc="The body as raw bytes, sent as given (no re-encoding; only line ends are made CRLF as SMTP "
            "requires). Takes precedence over message_text.")

    # ============================================================================== defaults
    def _init_properties(self) -> None:
        """Every property and config setting at its default (construction and reset())."""
        self._init_config()
        self._reset_properties(CONNECTION, HEADERS, BODY)

    def _init_config(self) -> None:
        """Every config setting at its default."""
        self._config = ConfigStore(self)
        self._message_settings = (self._config.version, DEFAULT_MESSAGE_SETTINGS)

    def _reset_properties(self, *groups: str) -> None:
        values = self.__dict__
        for group in groups:
            values.update(_DEFAULTS[group])
            for attr, new in _FACTORIES[group]:
                values[attr] = new(self)
        if BODY in groups:
            self._message_stream = None  # the third body source, set by set_message_stream()
        self._last_sent = None

    def reset_headers(self) -> None:
        """Every header property back to empty (MessageDate and MessageId back to "*", the
        enums to unspecified), message_recipients cleared. The body is kept."""
        self._reset_properties(HEADERS)

    def _message_changed(self) -> None:
        """A message property changed: config("MessageHeadersString") shows the next send's
        headers again, config("TransferText") is empty."""
        self._last_sent = None

    # ============================================================================== for the table
    @property
    def connected(self) -> bool:
        """True while a connection is open (the facade knows; alone, never)."""
        return False

    def _local_address(self) -> str | None:
        return None

    # ============================================================================== the message
    def set_message_stream(self, stream: IO[bytes] | None) -> None:
        """Send the body from a binary file-like object (read in chunks from its current
        position to the end). None removes it. CloseStreamAfterTransfer closes it after a send."""
        if stream is not None and not callable(getattr(stream, "read", None)):
            raise SMTPInputError("set_message_stream: expected a binary file-like object with read()")
        self._message_stream = stream
        if stream is not None:
            self.__dict__[Properties.message.attr] = b""
        self._message_changed()

    @property
    def message_headers(self) -> list[Header]:
        """The headers that will be sent (Date and Message-ID freshly generated when "*")."""
        return preview_headers(self._message_spec()).headers

    @property
    def message_headers_string(self) -> str:
        """The header block that will be sent, folded and encoded, ending with the empty line."""
        return preview_headers(self._message_spec()).text

    def _message_spec(self) -> MessageSpec:
        """The message the properties and config describe now, as an immutable value."""
        config = self._config
        settings = self._message_settings
        if settings[0] != config.version:  # the settings changed since
            settings = self._message_settings = (config.version, _settings_of(config))
        # A loop of send() with unchanged properties builds an equal spec every call: the last
        # one is kept and given again when the property values (the same objects, mostly) and
        # every recipient's fields are equal. A MessageRecipient can be changed in place, so its
        # fields are compared, not the list.
        values = _spec_values(self.__dict__) + (self._message_stream, settings[1])
        recipients = self.message_recipients
        key = tuple([(r.address, r.name, r.options, r.recipient_type) for r in recipients])
        last = self._last_spec
        if last is not None and last[0] == values and last[1] == key:
            return last[2]
        spec = MessageSpec._make(values[:-2] + (parse_recipients(recipients),) + values[-2:])
        self._last_spec = (values, key, spec)
        return spec


def _settings_of(config: ConfigStore) -> MessageSettings:
    """The config settings that shape a message (cached per config version by the table)."""
    value = config.value
    return MessageSettings(
        charset=value("Charset"),
        fold_headers=value("FoldHeaders"),
        max_header_length=value("MaxHeaderLength"),
        message_id_algorithm=value("MessageIdAlgorithm"),
        hello=value("Hello"),
        allow_empty_to=value("AllowEmptyTo"),
        close_stream=value("CloseStreamAfterTransfer"),
    )


PROPERTIES: tuple[Prop[Any, Any], ...] = tuple(row for row in vars(Properties).values() if isinstance(row, Prop))

DEFAULT_MESSAGE_SETTINGS = _settings_of(ConfigStore())
# The spec's fields that are properties, read where the table keeps their values.
_SPEC_ROWS = [row for name in PROPERTY_FIELDS for row in PROPERTIES if row.name == name and row.custom_get is None]
assert len(_SPEC_ROWS) == len(PROPERTY_FIELDS), "every MessageSpec property field is a stored row"
_spec_values = itemgetter(*[row.attr for row in _SPEC_ROWS])

# Per reset group: the plain defaults (stored in one update) and the factories of fresh ones.
_DEFAULTS = {group: {row.attr: row.default for row in PROPERTIES if row.group == group and row.new is None}
             for group in (CONNECTION, HEADERS, BODY)}
_FACTORIES = {group: [(row.attr, row.new) for row in PROPERTIES if row.group == group and row.new is not None]
              for group in (CONNECTION, HEADERS, BODY)}
