"""What a type checker sees of the public API: a user's script, checked with mypy. The facade's
properties are typed by their table (smtpx.facade.properties.Prop), ``smtpx.SMTP`` and the other
lazy names of ``smtpx`` are real types, and so are the kernels."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from mypy import api as mypy_api  # a test dependency: a missing mypy fails, never skips

import smtpx

SRC = Path(smtpx.__file__).resolve().parents[1]

SCRIPT = '''\
from email.message import EmailMessage

import smtpx
from smtpx.aio import AsyncSMTP, AsyncSMTPPool

smtp = smtpx.SMTP(mail_server="mx.example.com")
pool = smtpx.SMTPPool(4, mail_server="mx.example.com")
apool = AsyncSMTPPool(2, mail_server="mx.example.com")
reveal_type(smtp)
reveal_type(smtp.send_message(EmailMessage()))
reveal_type(pool)
reveal_type(pool.send_batch([]))
reveal_type(apool)
reveal_type(smtpx.SMTPError("x").code)
reveal_type(smtp.mail_port)
reveal_type(smtp.auth_mechanism)
reveal_type(smtp.message_recipients)
reveal_type(smtp.send())
reveal_type(AsyncSMTP().ssl_cert)
reveal_type(smtpx.kernels.fold_header)
smtp.mail_port = 2525
smtp.auth_mechanism = 1
smtp.auth_mechanism = smtpx.AuthMechanism.CRAM_MD5
smtp.message = bytearray(b"raw")
smtp.message_recipients = [smtpx.MessageRecipient("a@example.com")]
smtp.mail_port = "25"
smtp.subject = None
'''


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> dict[int, list[str]]:
    """mypy's notes and errors on SCRIPT, by line number."""
    folder = tmp_path_factory.mktemp("typing")
    script = folder / "user_script.py"
    script.write_text(SCRIPT)
    import os

    # An editable install (smtpx imported from the repository's src/) is invisible to mypy;
    # a regular install is found in site-packages through its py.typed marker.
    editable = SRC.name == "src"
    if editable:
        os.environ["MYPYPATH"] = str(SRC)
    try:
        stdout, stderr, _ = mypy_api.run([
            str(script), "--python-executable", sys.executable,
            "--follow-imports=silent", "--no-error-summary", "--show-error-codes",
            "--cache-dir", str(folder / "cache"),
        ])
    finally:
        if editable:
            del os.environ["MYPYPATH"]
    assert not stderr, stderr
    found: dict[int, list[str]] = {}
    for line in stdout.splitlines():
        match = re.match(r".*user_script\.py:(\d+): (?:note|error): (.*)", line)
        if match:
            found.setdefault(int(match.group(1)), []).append(match.group(2))
    return found


def line_of(text: str) -> int:
    return SCRIPT.splitlines().index(text) + 1


@pytest.mark.parametrize("expression, revealed", [
    ("smtp", '"smtpx.facade.smtp.SMTP"'),
    ("smtp.mail_port", '"int"'),
    ("smtp.auth_mechanism", '"smtpx.enums.AuthMechanism"'),
    ("smtp.message_recipients", '"smtpx.facade.recipients.RecipientList"'),
    ("smtp.send()", '"smtpx.engine.envelope.SendResult"'),
    ("smtp.send_message(EmailMessage())", '"smtpx.engine.envelope.SendResult"'),
    ("pool", '"smtpx.pool.sync.SMTPPool"'),
    ("pool.send_batch([])", 'list[smtpx.engine.envelope.SendResult | smtpx.errors.SMTPError]'),
    ("apool", '"smtpx.pool.aio.AsyncSMTPPool"'),
    ("smtpx.SMTPError(\"x\").code", '"int"'),
    ("AsyncSMTP().ssl_cert", '"smtpx.tls.certificate.Certificate | None"'),
    ("smtpx.kernels.fold_header", '"def (name: str, value: str, max_len: int =, charset: str =) -> str"'),
])
def test_types_a_user_sees(checked, expression, revealed):
    [note] = checked[line_of(f"reveal_type({expression})")]
    assert revealed in note and "Any" not in note, note


def test_assigning_a_str_to_mail_port_fails_type_checking(checked):
    [error] = checked[line_of('smtp.mail_port = "25"')]
    assert 'expression has type "str", variable has type "int"' in error
    [error] = checked[line_of("smtp.subject = None")]
    assert 'expression has type "None", variable has type "str"' in error


def test_what_the_setters_take_passes(checked):
    """Enums take their int values, message takes a bytearray, message_recipients a list."""
    first, last = line_of("smtp.mail_port = 2525"), line_of('smtp.mail_port = "25"')
    assert not [(n, m) for n, m in checked.items() if first <= n < last]
