from __future__ import annotations

from typing import Any

from smtpx.facade.properties import Properties
from smtpx.message.compose import ComposedMessage, compose_message


class Msg(Properties):
    """The property table as the facade uses it, without a connection: every property and
    config setting at its default, then the given properties."""

    def __init__(self, **props: Any) -> None:
        self._init_properties()
        for k, v in props.items():
            setattr(self, k, v)


def compose(m: Properties, **options: Any) -> ComposedMessage:
    """What a send composes: the message value the properties describe, composed."""
    return compose_message(m._message_spec(), **options)


def header_lines(text: str) -> list[str]:
    return text.split("\r\n")
