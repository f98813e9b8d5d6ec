"""Text for pi_trail and error messages: reply lines with their code, sanitised."""
from __future__ import annotations

from smtpx.kernels import Reply

_MAX_TRACE = 4096  # a 1 MB reply line must not become a 1 MB trace string


def sanitise(text: str) -> str:
    """Control characters (NUL, CR, ESC, DEL...) become '?'; invalid UTF-8 already arrives
    as U+FFFD from the scanner."""
    if len(text) > _MAX_TRACE:
        text = text[:_MAX_TRACE] + "..."
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else "?" for char in text)


def reply_lines(reply: Reply) -> list[str]:
    """'250-first', ..., '250 last' (a bare code for an empty last line)."""
    code = str(reply.code)
    lines = reply.lines or [""]
    last = len(lines) - 1
    out = []
    for index, line in enumerate(lines):
        if index < last:
            out.append(f"{code}-{sanitise(line)}")
        else:
            out.append(f"{code} {sanitise(line)}" if line else code)
    return out


def reply_text(reply: Reply) -> str:
    return "\n".join(sanitise(line) for line in reply.lines)


def describe_reply(reply: Reply) -> str:
    """'550 5.1.1 no such user' for errors and on_error: the code, the enhanced code once (the
    reply's first line usually starts with it already), and the text."""
    text = reply_text(reply)
    enhanced = reply.enhanced
    if enhanced and not (text == enhanced or text.startswith(enhanced + " ") or text.startswith(enhanced + "\n")):
        text = f"{enhanced} {text}" if text else enhanced
    return f"{reply.code} {text}".rstrip()
