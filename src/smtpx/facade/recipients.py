"""``message_recipients``: the one list of recipients, each with a type (To, Cc, BCc). The
``send_to``, ``cc`` and ``bcc`` properties are views of it (the reference's Note on
SendTo/Cc/BCc): setting one *adds* its addresses (an address already there with the same type
is not added twice; "" removes that type), reading one gives that type's addresses,
comma-separated."""
from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableSequence
from typing import Any, Protocol, overload

from smtpx.enums import RecipientType
from smtpx.errors import SMTPInputError
from smtpx.message.addresses import Mailbox, format_address_list, parse_address_list
from smtpx.message.fields import check_single_line, recipient_mailbox
from smtpx.types import MessageRecipient

__all__ = ["RecipientList", "recipients_of_type", "add_recipients"]


class _Owner(Protocol):
    def _message_changed(self) -> None: ...


class RecipientList(MutableSequence[MessageRecipient]):
    """A list of MessageRecipient (a str is taken as an address) whose every change tells its
    owner that the message changed. Items are checked as they come in."""

    __slots__ = ("_items", "_owner")

    def __init__(self, owner: _Owner | None = None, items: Iterable[Any] = ()) -> None:
        self._owner = owner
        self._items: list[MessageRecipient] = []
        for item in items:
            self._items.append(self._check(item))

    @staticmethod
    def _check(item: Any) -> MessageRecipient:
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
            self._owner._message_changed()

    @overload
    def __getitem__(self, index: int) -> MessageRecipient: ...
    @overload
    def __getitem__(self, index: slice) -> list[MessageRecipient]: ...
    def __getitem__(self, index: int | slice) -> MessageRecipient | list[MessageRecipient]:
        return self._items[index]

    @overload
    def __setitem__(self, index: int, value: MessageRecipient) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Iterable[MessageRecipient]) -> None: ...
    def __setitem__(self, index: int | slice, value: Any) -> None:
        if isinstance(index, slice):
            self._items[index] = [self._check(v) for v in value]
        else:
            self._items[index] = self._check(value)
        self._changed()

    def __delitem__(self, index: int | slice) -> None:
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

    def replace(self, items: Iterable[Any]) -> None:
        """The setter of message_recipients: every item checked before anything changes."""
        self._items = RecipientList(None, items)._items
        self._changed()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RecipientList):
            return self._items == other._items
        if isinstance(other, list):
            return self._items == other
        return NotImplemented

    def __repr__(self) -> str:
        return f"RecipientList({self._items!r})"

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


def recipients_of_type(recipients: RecipientList, kind: RecipientType) -> str:
    """The send_to / cc / bcc getter: that type's recipients, comma-separated. One added
    directly with a bad address is shown as written (composition refuses it with a clear
    error)."""
    return format_address_list([_shown(r) for r in recipients.of_type(kind)])


def _shown(r: MessageRecipient) -> Mailbox:
    try:
        return recipient_mailbox(r.address, r.name)
    except SMTPInputError:
        return Mailbox(r.name, r.address)


def add_recipients(recipients: RecipientList, kind: RecipientType, value: Any, what: str) -> None:
    """The send_to / cc / bcc setter: adds the addresses of ``value``; "" removes that type."""
    if not check_single_line(value, what).strip():
        recipients.remove_type(kind)
        return
    recipients.add_field(kind, parse_address_list(value, what))
