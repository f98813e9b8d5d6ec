"""Command lines: one place that turns validated input into the bytes sent and the text traced."""
from __future__ import annotations

from smtpx.engine.validation import check_esmtp_param, check_no_controls
from smtpx.errors import SMTPInputError
from smtpx.kernels import is_plain_address


class Command:
    """One command line: ``wire`` is sent (with CRLF), ``trace`` goes to pi_trail. Never
    changed once made (a cached plan's commands serve many messages). A plain class with its
    ``__init__`` written out: a frozen dataclass's sets each field through
    ``object.__setattr__``, which cost more than the rest of building a RCPT line."""

    __slots__ = ("wire", "trace")

    def __init__(self, wire: bytes, trace: str) -> None:
        self.wire = wire
        self.trace = trace

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Command):
            return NotImplemented
        return self.wire == other.wire and self.trace == other.trace

    def __hash__(self) -> int:
        return hash((self.wire, self.trace))

    def __repr__(self) -> str:
        return f"Command(wire={self.wire!r}, trace={self.trace!r})"


def command(line: str, *, trace: str | None = None, utf8: bool = False) -> Command:
    """Build a command from a line with no CRLF. ``trace`` overrides what pi_trail shows."""
    check_no_controls(line, "the command")
    try:
        wire = line.encode("utf-8" if utf8 else "ascii")
    except UnicodeEncodeError:
        raise SMTPInputError(f"the command {line!r} has non-ASCII characters (needs SMTPUTF8)") from None
    return Command(wire + b"\r\n", line if trace is None else trace)


def raw_command(line: str) -> Command:
    """A user's raw command, sent as given (UTF-8), after the control-character check."""
    check_no_controls(line, "the command")
    if not line:
        raise SMTPInputError("the command is empty")
    return Command(line.encode("utf-8") + b"\r\n", line)


def xtext(value: str) -> str:
    """RFC 3461 section 4: '+', '=', and bytes outside '!'..'~' become '+HH'."""
    out = []
    for byte in value.encode("utf-8"):
        if 0x21 <= byte <= 0x7E and byte not in (0x2B, 0x3D):
            out.append(chr(byte))
        else:
            out.append(f"+{byte:02X}")
    return "".join(out)


_NOTIFY_VALUES = {"NEVER", "SUCCESS", "FAILURE", "DELAY"}


def recipient_params(options: str, what: str) -> list[tuple[str, str | None]]:
    """Parse MessageRecipient.options: "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b", or the
    reference's "NOTIFY SUCCESS,FAILURE" form. ORCPT's address is given decoded and is
    xtext-encoded here; "rfc822;" is assumed when no address type is given."""
    if not options:
        return []
    check_no_controls(options, what)
    tokens = options.split()
    params: list[tuple[str, str | None]] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        keyword, has_equals, value = token.partition("=")
        upper = keyword.upper()
        if not has_equals and upper in ("NOTIFY", "ORCPT") and index < len(tokens):
            value, has_equals = tokens[index], "="
            index += 1
        param_value: str | None = value if has_equals else None
        if upper == "NOTIFY":
            param_value = _notify(value, what)
        elif upper == "ORCPT":
            param_value = _orcpt(value, what)
        check_esmtp_param(upper if upper in ("NOTIFY", "ORCPT") else keyword, param_value, what)
        params.append((upper if upper in ("NOTIFY", "ORCPT") else keyword, param_value))
    return params


def _notify(value: str, what: str) -> str:
    items = [item.strip().upper() for item in value.split(",") if item.strip()]
    if not items or any(item not in _NOTIFY_VALUES for item in items):
        raise SMTPInputError(f"{what}: NOTIFY takes NEVER or SUCCESS, FAILURE, DELAY, not {value!r}")
    if "NEVER" in items and len(items) > 1:
        raise SMTPInputError(f"{what}: NOTIFY=NEVER cannot be combined with other values")
    return ",".join(items)


def _orcpt(value: str, what: str) -> str:
    addr_type, has_type, address = value.partition(";")
    if not has_type:
        addr_type, address = "rfc822", value
    if not addr_type or not address:
        raise SMTPInputError(f"{what}: ORCPT needs an address, got {value!r}")
    return f"{addr_type};{xtext(address)}"


def format_params(params: list[tuple[str, str | None]]) -> str:
    if not params:
        return ""
    return "".join(f" {key}" if value is None else f" {key}={value}" for key, value in params)


def path_command(verb: str, address: str, params: list[tuple[str, str | None]], utf8: bool) -> Command:
    """'MAIL FROM:<a> K=V' / 'RCPT TO:<a> K=V' (address already validated)."""
    if not params and is_plain_address(address):  # ASCII without control characters: no checks
        line = f"{verb}:<{address}>"
        return Command(line.encode("ascii") + b"\r\n", line)
    return command(f"{verb}:<{address}>{format_params(params)}", utf8=utf8)
