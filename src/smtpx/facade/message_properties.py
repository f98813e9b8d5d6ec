"""The message properties of smtpx.SMTP, as a mixin.

The facade inherits :class:`MessageProperties` and calls
``MessageProperties._init_message_properties(self)`` from its ``__init__`` *after* creating
``self._config = ConfigStore(self)`` (the mixin creates one if it is missing). ``reset()`` in the
facade should call ``_init_message_properties`` again.

Every setter validates its value: CR, LF, NUL and other control characters in a single-line
property, an encoded word that hides CR/LF, or a malformed address raise
:class:`smtpx.errors.SMTPInputError`; the value is then left unchanged.

Recipients (the reference's Note on SendTo/Cc/BCc): ``message_recipients`` is the one list of
recipients, with a type each (To, Cc, BCc). Setting ``send_to``, ``cc`` or ``bcc`` *adds* the
addresses to it (an address already there with the same type is not added twice); reading them
gives the recipients of that type, comma-separated. So to replace the recipients, clear
``message_recipients`` (or call ``reset_headers()``) before setting them. As a Python extra,
setting one of them to "" removes the recipients of that type.

Body sources: ``message_text`` (str), ``message`` (bytes, sent as given) and
``set_message_stream(f)``. When more than one is set, the stream wins, then ``message``, then
``message_text``. Setting ``message`` to non-empty bytes drops a stream; setting a stream clears
``message``.

Attributes this mixin keeps on the object (all "_mp_*" plus the two below):
``_last_headers_string`` / ``_last_transfer_text``: set by the facade after a send to what went
on the wire (ComposedMessage.headers_string / transfer_text); any message property change sets
them back to None, so config("MessageHeadersString") then shows the headers that will be sent.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, MutableSequence
from typing import IO, Any, overload

from smtpx.message.addresses import (
    Mailbox,
    check_header_text,
    format_address_list,
    format_mailbox,
    parse_address_list,
    parse_mailbox,
    parse_reverse_path,
)
from smtpx.enums import Importance, Priority, RecipientType, Sensitivity
from smtpx.errors import SMTPInputError
from smtpx.types import Header, MessageRecipient

__all__ = ["MessageProperties", "RecipientList", "check_single_line", "parse_other_headers"]

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def _decoded_words_have_line_breaks(value: str) -> bool:
    import email.header

    for m in _ENCODED_WORD.finditer(value):
        try:
            for data, charset in email.header.decode_header(m.group(0)):
                if isinstance(data, bytes):
                    data = data.decode(charset or "ascii", "replace")
                if any(c in data for c in "\r\n\0"):
                    return True
        except (ValueError, LookupError):
            continue  # not a valid encoded word: sent (and shown) as the text it is
    return False


def check_single_line(value: Any, what: str) -> str:
    """A header-like property: a str without control characters (tab allowed) and without an
    encoded word that decodes to CR, LF or NUL (header injection)."""
    if not isinstance(value, str):
        raise SMTPInputError(f"{what}: expected a str, not {type(value).__name__}")
    check_header_text(value, what)
    if "=?" in value and _decoded_words_have_line_breaks(value):
        raise SMTPInputError(f"{what}: an encoded word in {value!r} hides CR, LF or NUL")
    return value


_FIELD_NAME = re.compile(r"[!-9;-~]+\Z")  # printable ASCII without ":" (RFC 5322 ftext)


def parse_other_headers(text: str) -> tuple[bool, list[Header]]:
    """(replaces_computed, headers) of an OtherHeaders value. Lines are split at CRLF, CR or LF;
    a line starting with white space continues the previous header (its folding kept, with CRLF).
    Raises SMTPInputError for a line that is not ``Name: value``, control characters, an
    injected encoded word, or a line over 998 characters."""
    if not isinstance(text, str):
        raise SMTPInputError(f"OtherHeaders: expected a str, not {type(text).__name__}")
    if not text:
        return False, []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    replaces = lines[0] == ""
    if replaces:
        lines = lines[1:]
    headers: list[Header] = []
    for line in lines:
        if line == "":
            continue  # a trailing line end, or blank lines between headers
        if len(line.encode("utf-8")) > 998:
            raise SMTPInputError(f"OtherHeaders: a line is longer than 998 octets: {line[:60]!r}...")
        if line[0] in " \t":
            if not headers:
                raise SMTPInputError(f"OtherHeaders: continuation line without a header: {line!r}")
            check_single_line(line, "OtherHeaders")
            headers[-1].value += "\r\n" + line
            continue
        name, colon, value = line.partition(":")
        if not colon or not _FIELD_NAME.match(name):
            raise SMTPInputError(f"OtherHeaders: {line!r} is not a 'Name: value' header line")
        check_single_line(value, f"OtherHeaders ({name})")
        headers.append(Header(name, value[1:] if value.startswith(" ") else value))
    return replaces, headers


class RecipientList(MutableSequence):
    """``message_recipients``: a list of MessageRecipient that stays in step with send_to,
    cc and bcc (they are views of it)."""

    __slots__ = ("_items", "_owner")

    def __init__(self, owner: Any = None, items: Iterable[MessageRecipient] = ()) -> None:
        self._owner = owner
        self._items: list[MessageRecipient] = []
        for item in items:
            self.append(item)

    def _check(self, item: Any) -> MessageRecipient:
        if isinstance(item, str):
            item = MessageRecipient(address=item)
        if not isinstance(item, MessageRecipient):
            raise SMTPInputError(f"MessageRecipients holds MessageRecipient objects, not {type(item).__name__}")
        check_single_line(item.name, "MessageRecipient.name")
        check_single_line(item.options, "MessageRecipient.options")
        check_single_line(item.address, "MessageRecipient.address")
        return item

    def _changed(self) -> None:
        if self._owner is not None:
            self._owner._touch()

    @overload
    def __getitem__(self, index: int) -> MessageRecipient: ...
    @overload
    def __getitem__(self, index: slice) -> list[MessageRecipient]: ...
    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        return self._items[index]

    def __setitem__(self, index, value):  # type: ignore[no-untyped-def]
        if isinstance(index, slice):
            self._items[index] = [self._check(v) for v in value]
        else:
            self._items[index] = self._check(value)
        self._changed()

    def __delitem__(self, index) -> None:  # type: ignore[no-untyped-def]
        del self._items[index]
        self._changed()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[MessageRecipient]:
        return iter(self._items)

    def insert(self, index: int, value: MessageRecipient) -> None:
        self._items.insert(index, self._check(value))
        self._changed()

    def clear(self) -> None:
        self._items.clear()
        self._changed()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RecipientList):
            return self._items == other._items
        if isinstance(other, list):
            return self._items == other
        return NotImplemented

    def __repr__(self) -> str:
        return f"RecipientList({self._items!r})"

    # --- views used by the properties ---------------------------------------------------
    def of_type(self, kind: int) -> list[MessageRecipient]:
        return [r for r in self._items if r.recipient_type == kind]

    def add_field(self, kind: RecipientType, mailboxes: list[Mailbox]) -> None:
        present = {(r.address, r.recipient_type) for r in self._items}
        for mb in mailboxes:
            if (mb.addr_spec, kind) not in present:
                self._items.append(MessageRecipient(address=mb.addr_spec, name=mb.name, recipient_type=kind))
                present.add((mb.addr_spec, kind))
        self._changed()

    def remove_type(self, kind: RecipientType) -> None:
        self._items = [r for r in self._items if r.recipient_type != kind]
        self._changed()


def _recipient_mailbox(r: MessageRecipient) -> Mailbox:
    mb = parse_mailbox(r.address, "MessageRecipient.address")
    if r.name and r.name != mb.name:
        check_header_text(r.name, "MessageRecipient.name")
        return Mailbox(r.name, mb.addr_spec)
    return mb


def _int_enum(enum_cls: type, value: Any, what: str) -> Any:
    try:
        if isinstance(value, bool):
            raise ValueError
        return enum_cls(int(value))
    except (ValueError, TypeError):
        allowed = ", ".join(f"{m.value} ({m.name})" for m in enum_cls)
        raise SMTPInputError(f"{what}: {value!r} is not valid; use one of {allowed}") from None


class MessageProperties:
    """Mixin: the message properties of the reference (see the module docstring)."""

    _config: Any

    def _init_message_properties(self) -> None:
        if getattr(self, "_config", None) is None:
            from smtpx.facade.config import ConfigStore

            self._config = ConfigStore(self)
        self._mp_from = ""
        self._mp_from_box: Mailbox | None = None
        self._mp_subject = ""
        self._mp_message_text = ""
        self._mp_message = b""
        self._mp_stream: IO[bytes] | None = None
        self._mp_message_date = "*"
        self._mp_message_id = "*"
        self._mp_reply_to = ""
        self._mp_reply_to_boxes: list[Mailbox] = []
        self._mp_return_path = ""
        self._mp_importance = Importance.UNSPECIFIED
        self._mp_priority = Priority.UNSPECIFIED
        self._mp_sensitivity = Sensitivity.UNSPECIFIED
        self._mp_delivery_notification_to = ""
        self._mp_read_receipt_to = ""
        self._mp_other_headers = ""
        self._mp_other_parsed: tuple[bool, list[Header]] = (False, [])
        self._mp_recipients = RecipientList(self)
        self._last_headers_string: str | None = None
        self._last_transfer_text: str | None = None

    def _touch(self) -> None:
        self._last_headers_string = None
        self._last_transfer_text = None

    # --- addresses --------------------------------------------------------------------------
    @property
    def from_(self) -> str:
        """The sender (one address, ``"Name" <addr>`` or ``addr``): the From header, and MAIL
        FROM unless return_path is set."""
        return self._mp_from

    @from_.setter
    def from_(self, value: str) -> None:
        check_single_line(value, "From")
        box = parse_mailbox(value, "From") if value.strip() else None
        self._mp_from, self._mp_from_box = value, box
        self._touch()

    def _recipient_field(self, kind: RecipientType) -> str:
        return format_address_list([_recipient_mailbox_safe(r) for r in self._mp_recipients.of_type(kind)])

    def _set_recipient_field(self, kind: RecipientType, value: str, what: str) -> None:
        check_single_line(value, what)
        if not value.strip():
            self._mp_recipients.remove_type(kind)
            return
        self._mp_recipients.add_field(kind, parse_address_list(value, what))

    @property
    def send_to(self) -> str:
        """The To recipients, comma-separated (a view of message_recipients)."""
        return self._recipient_field(RecipientType.TO)

    @send_to.setter
    def send_to(self, value: str) -> None:
        self._set_recipient_field(RecipientType.TO, value, "SendTo")

    @property
    def cc(self) -> str:
        return self._recipient_field(RecipientType.CC)

    @cc.setter
    def cc(self, value: str) -> None:
        self._set_recipient_field(RecipientType.CC, value, "Cc")

    @property
    def bcc(self) -> str:
        return self._recipient_field(RecipientType.BCC)

    @bcc.setter
    def bcc(self, value: str) -> None:
        self._set_recipient_field(RecipientType.BCC, value, "BCc")

    @property
    def message_recipients(self) -> RecipientList:
        return self._mp_recipients

    @message_recipients.setter
    def message_recipients(self, value: Iterable[MessageRecipient]) -> None:
        items = list(value)
        fresh = RecipientList(self, items)  # validates every item before anything changes
        self._mp_recipients._items = fresh._items
        self._touch()

    @property
    def reply_to(self) -> str:
        return self._mp_reply_to

    @reply_to.setter
    def reply_to(self, value: str) -> None:
        boxes = _checked_address_list(value, "ReplyTo")
        self._mp_reply_to, self._mp_reply_to_boxes = value, boxes
        self._touch()

    @property
    def return_path(self) -> str:
        """MAIL FROM, when set (one address, or "<>" for the null reverse path); else From."""
        return self._mp_return_path

    @return_path.setter
    def return_path(self, value: str) -> None:
        check_single_line(value, "ReturnPath")
        if value.strip():
            parse_reverse_path(value, "ReturnPath")
        self._mp_return_path = value
        self._touch()

    @property
    def delivery_notification_to(self) -> str:
        """Adds a Return-Receipt-To header."""
        return self._mp_delivery_notification_to

    @delivery_notification_to.setter
    def delivery_notification_to(self, value: str) -> None:
        _checked_address_list(value, "DeliveryNotificationTo")
        self._mp_delivery_notification_to = value
        self._touch()

    @property
    def read_receipt_to(self) -> str:
        """Adds a Disposition-Notification-To header."""
        return self._mp_read_receipt_to

    @read_receipt_to.setter
    def read_receipt_to(self, value: str) -> None:
        _checked_address_list(value, "ReadReceiptTo")
        self._mp_read_receipt_to = value
        self._touch()

    # --- other header properties --------------------------------------------------------------
    @property
    def subject(self) -> str:
        return self._mp_subject

    @subject.setter
    def subject(self, value: str) -> None:
        self._mp_subject = check_single_line(value, "Subject")
        self._touch()

    @property
    def message_date(self) -> str:
        """"*" (default): the current time; "": no Date header; else used as given."""
        return self._mp_message_date

    @message_date.setter
    def message_date(self, value: str) -> None:
        self._mp_message_date = check_single_line(value, "MessageDate")
        self._touch()

    @property
    def message_id(self) -> str:
        """"*" (default): a random unique id; "": no Message-ID header; else the id (angle
        brackets added when missing)."""
        return self._mp_message_id

    @message_id.setter
    def message_id(self, value: str) -> None:
        check_single_line(value, "MessageId")
        if any(c in value for c in " \t") or not value.isascii():
            raise SMTPInputError(f"MessageId: {value!r} must be ASCII without spaces")
        self._mp_message_id = value
        self._touch()

    @property
    def importance(self) -> Importance:
        return self._mp_importance

    @importance.setter
    def importance(self, value: int) -> None:
        self._mp_importance = _int_enum(Importance, value, "Importance")
        self._touch()

    @property
    def priority(self) -> Priority:
        return self._mp_priority

    @priority.setter
    def priority(self, value: int) -> None:
        self._mp_priority = _int_enum(Priority, value, "Priority")
        self._touch()

    @property
    def sensitivity(self) -> Sensitivity:
        return self._mp_sensitivity

    @sensitivity.setter
    def sensitivity(self, value: int) -> None:
        self._mp_sensitivity = _int_enum(Sensitivity, value, "Sensitivity")
        self._touch()

    @property
    def other_headers(self) -> str:
        """Extra ``Name: value`` lines appended to the computed headers; when the value starts
        with an empty line, it replaces them."""
        return self._mp_other_headers

    @other_headers.setter
    def other_headers(self, value: str) -> None:
        parsed = parse_other_headers(value)
        self._mp_other_headers, self._mp_other_parsed = value, parsed
        self._touch()

    # --- body -------------------------------------------------------------------------------------
    @property
    def message_text(self) -> str:
        return self._mp_message_text

    @message_text.setter
    def message_text(self, value: str) -> None:
        if not isinstance(value, str):
            raise SMTPInputError(f"MessageText: expected a str, not {type(value).__name__}")
        self._mp_message_text = value
        self._touch()

    @property
    def message(self) -> bytes:
        """The body as raw bytes, sent as given (no re-encoding; only line ends are made CRLF
        as SMTP requires). Takes precedence over message_text."""
        return self._mp_message

    @message.setter
    def message(self, value: bytes | bytearray | memoryview) -> None:
        if isinstance(value, str):
            raise SMTPInputError("Message: expected bytes (use message_text for a str)")
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise SMTPInputError(f"Message: expected bytes, not {type(value).__name__}")
        self._mp_message = bytes(value)
        if self._mp_message:
            self._mp_stream = None
        self._touch()

    def set_message_stream(self, stream: IO[bytes] | None) -> None:
        """Send the body from a binary file-like object (read in chunks from its current
        position to the end). None removes it. CloseStreamAfterTransfer closes it after a send."""
        if stream is not None and not callable(getattr(stream, "read", None)):
            raise SMTPInputError("set_message_stream: expected a binary file-like object with read()")
        self._mp_stream = stream
        if stream is not None:
            self._mp_message = b""
        self._touch()

    # --- computed -----------------------------------------------------------------------------------
    @property
    def message_headers(self) -> list[Header]:
        """The headers that will be sent (Date and Message-ID freshly generated when "*")."""
        from smtpx.message.compose import preview_headers

        return preview_headers(self).headers

    @property
    def message_headers_string(self) -> str:
        """The header block that will be sent, folded and encoded, ending with the empty line."""
        from smtpx.message.compose import preview_headers

        return preview_headers(self).text

    def reset_headers(self) -> None:
        """Every header property back to empty (MessageDate and MessageId back to "*", the
        enums to unspecified), message_recipients cleared. The body is kept."""
        self._mp_from = ""
        self._mp_from_box = None
        self._mp_subject = ""
        self._mp_message_date = "*"
        self._mp_message_id = "*"
        self._mp_reply_to = ""
        self._mp_reply_to_boxes = []
        self._mp_return_path = ""
        self._mp_importance = Importance.UNSPECIFIED
        self._mp_priority = Priority.UNSPECIFIED
        self._mp_sensitivity = Sensitivity.UNSPECIFIED
        self._mp_delivery_notification_to = ""
        self._mp_read_receipt_to = ""
        self._mp_other_headers = ""
        self._mp_other_parsed = (False, [])
        self._mp_recipients.clear()
        self._touch()


def _recipient_mailbox_safe(r: MessageRecipient) -> Mailbox:
    """For the send_to/cc/bcc getters: a recipient added directly with a bad address is shown
    as written (compose rejects it with a clear error)."""
    try:
        return _recipient_mailbox(r)
    except SMTPInputError:
        return Mailbox(r.name, r.address)


def recipient_mailbox(r: MessageRecipient) -> Mailbox:
    """The parsed mailbox of a recipient (SMTPInputError if its address is bad)."""
    return _recipient_mailbox(r)


__all__ += ["recipient_mailbox", "format_mailbox"]


def _checked_address_list(value: str, name: str) -> list:
    """A single-line property holding an address list: its parsed mailboxes ([] when empty);
    bad input raises SMTPInputError naming the property."""
    check_single_line(value, name)
    return parse_address_list(value, name) if value.strip() else []
