from __future__ import annotations

from smtpx.facade.config import ConfigStore
from smtpx.facade.message_properties import MessageProperties


class Msg(MessageProperties):
    """The mixin as the facade uses it: a ConfigStore on self._config, then the init call."""

    def __init__(self, **props) -> None:
        self._config = ConfigStore(self)
        self._init_message_properties()
        for k, v in props.items():
            setattr(self, k, v)


def header_lines(text: str) -> list[str]:
    return text.split("\r\n")
