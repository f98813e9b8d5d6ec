"""The input checks every layer shares: strings, control characters, bools, enums, whole
numbers, instances. Properties, config settings, the engine, SASL mechanisms and address
parsing all call these, so a rule (and its error message) is written once.

Each check takes the value and ``what`` (the name the error message gives it), returns the
value to use, and raises ``error`` (SMTPInputError unless the caller says otherwise, e.g.
SMTPConfigError for config settings). Messages never quote a refused string in full: it may be a
password or a token.
"""
from __future__ import annotations

import re
from enum import IntEnum
from functools import lru_cache
from typing import Any, Callable, TypeVar

from smtpx.errors import SMTPError, SMTPInputError

__all__ = [
    "CONTROLS",
    "HEADER_CONTROLS",
    "check_str",
    "check_text",
    "check_no_controls",
    "check_characters",
    "describe_character",
    "check_int",
    "to_bool",
    "to_enum",
    "enum_of",
    "instance_of",
    "optional",
    "character_class",
]

E = TypeVar("E", bound=IntEnum)
T = TypeVar("T")

# C0 controls (CR, LF and NUL among them) and DEL: in a command line, a CR or LF would end it
# early and let the rest be read as another command; in a header, start another header.
CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
# The same without tab, which is white space in a header value (RFC 5322 WSP).
HEADER_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

_NAMES = {"\r": "CR", "\n": "LF", "\x00": "NUL", "\t": "TAB", "\x7f": "DEL"}
_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def describe_character(char: str) -> str:
    """"the control character CR", "the control character U+001B", "the character '/'"."""
    if CONTROLS.match(char):
        return f"the control character {_NAMES.get(char) or f'U+{ord(char):04X}'}"
    return f"the character {char!r}"


def check_str(value: Any, what: str, error: type[SMTPError] = SMTPInputError) -> str:
    if not isinstance(value, str):
        raise error(f"{what} must be a string, not {type(value).__name__}")
    return value


def check_characters(value: str, what: str, forbidden: re.Pattern[str],
                     error: type[SMTPError] = SMTPInputError) -> str:
    """Refuse ``value`` when ``forbidden`` (a character class) matches in it."""
    match = forbidden.search(value)
    if match is not None:
        raise _refused(what, match, error)
    return value


def check_no_controls(value: str, what: str, allow_tab: bool = False,
                      error: type[SMTPError] = SMTPInputError) -> str:
    """Refuse CR, LF, NUL, the other C0 controls and DEL (tab too, unless ``allow_tab``)."""
    if type(value) is str and value.isprintable():  # no control character at all: the usual case,
        return value  # found by one C loop instead of a regular expression
    match = (HEADER_CONTROLS if allow_tab else CONTROLS).search(value)  # (a hot path: no further call)
    if match is not None:
        raise _refused(what, match, error)
    return value


def _refused(what: str, match: re.Match[str], error: type[SMTPError]) -> SMTPError:
    return error(f"{what} contains {describe_character(match.group())} at position {match.start()}, "
                 "which is not allowed")


def check_text(value: Any, what: str, error: type[SMTPError] = SMTPInputError) -> str:
    """A one-line string: a str without control characters (CR, LF, NUL...)."""
    return check_no_controls(check_str(value, what, error), what, False, error)


@lru_cache(maxsize=32)
def character_class(characters: str) -> re.Pattern[str]:
    """A pattern matching any one of ``characters`` (for check_characters)."""
    return re.compile("[" + re.escape(characters) + "]")


def check_int(value: Any, what: str, minimum: int | None = None, maximum: int | None = None,
              error: type[SMTPError] = SMTPInputError) -> int:
    """A whole number (not a bool) within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int) or \
            (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if minimum is not None and maximum is not None:
            allowed = f"an int from {minimum} to {maximum}"
        elif minimum is not None:
            allowed = f"an int >= {minimum}"
        else:
            allowed = "an int"
        raise error(f"{what} must be {allowed}, not {value!r}")
    return value


def to_bool(value: Any, what: str, words: bool = False, error: type[SMTPError] = SMTPInputError) -> bool:
    """True/False (and 0/1); with ``words``, also the strings True/False/1/0/Yes/No in any case."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if words and isinstance(value, str):
        found = _WORDS.get(value.strip().lower())
        if found is not None:
            return found
    allowed = "True, False, 0, 1, Yes or No" if words else "True or False (or 1 or 0)"
    raise error(f"{what}: {value!r} is not a boolean; use {allowed}")


def to_enum(enum_type: type[E], value: Any, what: str, error: type[SMTPError] = SMTPInputError) -> E:
    """A member of ``enum_type`` from itself or its int value (not from a bool)."""
    if type(value) is enum_type:
        return value
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        return enum_type(int(value))
    except (ValueError, TypeError):
        allowed = ", ".join(f"{m.value} ({m.name})" for m in enum_type)
        raise error(f"{what} must be one of {allowed}, not {value!r}") from None


def enum_of(enum_type: type[E]) -> Callable[[Any, str], E]:
    """to_enum for ``enum_type``, as a (value, what) check."""
    def check(value: Any, what: str) -> E:
        return to_enum(enum_type, value, what)

    return check


def instance_of(cls: type[T], description: str) -> Callable[[Any, str], T]:
    """A check that takes only instances of ``cls`` (``description`` names it in the error)."""
    def check(value: Any, what: str) -> T:
        if not isinstance(value, cls):
            raise SMTPInputError(f"{what} must be {description}, not {type(value).__name__}")
        return value

    return check


def optional(check: Callable[[Any, str], T]) -> Callable[[Any, str], T | None]:
    """``check``, with None also allowed."""
    def check_or_none(value: Any, what: str) -> T | None:
        return None if value is None else check(value, what)

    return check_or_none
