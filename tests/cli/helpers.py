"""Running the command in-process (``main(argv)``, output captured by pytest's capsys) and
reading back what a real server stored."""
from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from smtpx.cli.main import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``smtpx ARGV``, run in this process."""
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def server_args(srv) -> list[str]:
    return ["--server", f"{srv.host}:{srv.port}"]


def parsed(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def text_of(part) -> str:
    """A text part's content with the wire's CRLF line ends read as newlines."""
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")
