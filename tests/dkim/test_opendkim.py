"""End to end through a real Postfix whose smtpd hands every message to Debian's OpenDKIM
milter (verify mode, public keys from a local file, no DNS): the verdict is read from the
Authentication-Results field of the message as delivered to the mailbox. Good signatures pass
(RSA-SHA256 and Ed25519-SHA256, relaxed and simple, over BDAT and DATA); a message altered
after signing fails. One Postfix and one opendkim for the module."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import smtpx
from smtpx.dkim import DKIMSigner
from tests.dkim.test_signer import MESSAGES, key
from tests.servers.opendkim import AUTHSERV_ID, milter_main_cf, start_opendkim
from tests.servers.postfix import Postfix, start_postfix

pytestmark = pytest.mark.postfix

DOMAIN = "example.com"
RCPT = "bob@example.test"  # delivered to the mbox (tests/servers/postfix.py)


def signers(rsa: str, ed: str) -> list[DKIMSigner]:
    """An RSA-2048 and an Ed25519 signature on every message, with these canonicalizations."""
    return [DKIMSigner(domain=DOMAIN, selector="rsa", private_key=key("rsa2048"), canonicalization=rsa),
            DKIMSigner(domain=DOMAIN, selector="ed", private_key=key("ed25519"), canonicalization=ed)]


# Between them, each algorithm with each canonicalization.
SETS = {"A": ("relaxed/relaxed", "simple/simple"), "B": ("simple/simple", "relaxed/relaxed")}


@pytest.fixture(scope="module")
def milter_postfix() -> Iterator[Postfix]:
    # Not under pytest's tmp dir: that is 0700 root, and the daemons run as their own users.
    base = Path(tempfile.mkdtemp(prefix="smtpx-opendkim-"))
    os.chmod(base, 0o755)
    records = {f"{s.selector}._domainkey.{s.domain}": s.dns_record() for s in signers("simple", "simple")}
    milter = start_opendkim(base / "opendkim", records)
    try:
        server = start_postfix(base / "postfix", main_cf_extra=milter_main_cf(milter.port))
        try:
            yield server
        finally:
            server.stop()
    finally:
        milter.stop()
        shutil.rmtree(base, ignore_errors=True)


def client(server: Postfix, **props: object) -> smtpx.SMTP:
    return smtpx.SMTP(mail_server=server.host, mail_port=server.smtp_port, timeout=30, **props)


def with_case(case: str, message: bytes) -> bytes:
    """The message with an (unsigned) field naming the case first, to find it in the mbox."""
    return f"X-Case: {case}\r\n".encode() + message


def verdicts(delivered: str) -> list[tuple[str, str, str]]:
    """(algorithm, selector, result) of every dkim= in OpenDKIM's Authentication-Results."""
    header_block = delivered.split("\n\n", 1)[0]
    unfolded = re.sub(r"\r?\n[ \t]+", " ", header_block)
    found: list[tuple[str, str, str]] = []
    for line in unfolded.splitlines():
        if not line.lower().startswith("authentication-results:"):
            continue
        parts = [part.strip() for part in line.split(":", 1)[1].split(";")]
        if parts[0] != AUTHSERV_ID:
            continue
        for part in parts[1:]:
            if part.startswith("dkim="):
                algorithm = re.search(r"header\.a=(\S+)", part)
                selector = re.search(r"header\.s=(\S+)", part)
                found.append((algorithm.group(1) if algorithm else "?", selector.group(1) if selector else "?",
                              part[5:].split()[0]))
    return sorted(found)


PASS_BOTH = [("ed25519-sha256", "ed", "pass"), ("rsa-sha256", "rsa", "pass")]

# folded headers, trailing white space, an empty body, a body without final CRLF, bare LF,
# 8-bit, SMTPUTF8, dot-stuffed lines, repeated fields, and a 150 KB body
CASES = ["plain", "folded", "trailing_ws", "empty_body", "no_body", "no_final_crlf", "bare_lf", "eight_bit",
         "utf8", "dots", "duplicates", "large"]


@pytest.mark.parametrize("signer_set, verb", [("A", "BDAT"), ("B", "BDAT"), ("A", "DATA")])
def test_good_signatures_pass(milter_postfix, signer_set, verb):
    server = milter_postfix
    smtp = client(server, dkim=signers(*SETS[signer_set]))
    if verb == "DATA":
        smtp.config("UseChunking=False")
    log_start = len(server.log_text())
    tag = f"{signer_set}-{verb}"
    results = smtp.send_batch([("alice@example.com", [RCPT], with_case(f"{tag}-{name}", MESSAGES[name]))
                               for name in CASES])
    assert not [result for result in results if isinstance(result, Exception)]
    for name in CASES:
        delivered = server.wait_for_delivery(f"X-Case: {tag}-{name}\n")
        assert verdicts(delivered) == PASS_BOTH, (name, delivered[:3000])
        assert delivered.count("DKIM-Signature:") == 2
    # the transactions went as this test says (Postfix offers CHUNKING: smtpx uses it by default)
    log = server.wait_for_log(f"< localhost[127.0.0.1]: {verb}", start=log_start)
    other = "DATA" if verb == "BDAT" else "BDAT"
    assert f"< localhost[127.0.0.1]: {other}" not in log


def test_message_from_properties_and_email_message_pass(milter_postfix):
    """send() (composed on the connection) and send_message, signed by the facade."""
    from email.message import EmailMessage

    server = milter_postfix
    smtp = client(server, dkim=signers(*SETS["A"]), from_="Alice <alice@example.com>", send_to=RCPT,
                  subject="caf\u00e9 " + "long subject " * 8, message_text=".leading dot\nbare LF\r\nlast  ")
    smtp.config("OtherHeaders=X-Case: props")
    smtp.send()
    msg = EmailMessage()
    msg["From"], msg["To"], msg["X-Case"] = "alice@example.com", RCPT, "email-message"
    msg["Subject"] = "\u00e9t\u00e9 " + "folded word " * 12
    msg.set_content("line one  \n.dot line\n\u00e9t\u00e9\n")
    smtpx.SMTP(mail_server=server.host, mail_port=server.smtp_port, timeout=30,
               dkim=signers(*SETS["B"])).send_message(msg)
    for case in ("props", "email-message"):
        assert verdicts(server.wait_for_delivery(f"X-Case: {case}\n")) == PASS_BOTH, case


ORIGINAL = (b"From: Alice <alice@example.com>\r\nTo: bob@example.test\r\nSubject: the original\r\n\r\n"
            b"Hello.\r\nA line  with spaces\r\n")

# (name, how the signed message is altered, verdict for relaxed, verdict for simple)
ALTERATIONS = [
    ("unaltered", lambda m: m, "pass", "pass"),
    ("body", lambda m: m.replace(b"Hello.", b"Hallo."), "fail", "fail"),
    ("subject", lambda m: m.replace(b"the original", b"a forgery"), "fail", "fail"),
    ("added-line", lambda m: m + b"P.S. added\r\n", "fail", "fail"),
    # white space inside a line: relaxed canonicalization is made to tolerate it, simple is not
    ("white-space", lambda m: m.replace(b"line  with", b"line with"), "pass", "fail"),
]


def test_altered_after_signing_fails(milter_postfix):
    server = milter_postfix
    smtp = client(server)  # signed by hand here: the client sends the bytes as given
    cases = []
    with smtp:
        for canonicalization in ("relaxed/relaxed", "simple/simple"):
            for signer in signers(canonicalization, canonicalization):
                for name, alter, relaxed, simple in ALTERATIONS:
                    case = f"altered-{signer.selector}-{canonicalization}-{name}"
                    message = with_case(case, signer.sign(ORIGINAL) + ORIGINAL)
                    smtp.send_raw("alice@example.com", [RCPT], alter(message))
                    expected = relaxed if canonicalization.startswith("relaxed") else simple
                    cases.append((case, signer, expected))
    for case, signer, expected in cases:
        delivered = server.wait_for_delivery(f"X-Case: {case}\n")
        assert verdicts(delivered) == [(signer.algorithm, signer.selector, expected)], (case, delivered[:2000])


def test_queue_files_signed_when_sent_pass(milter_postfix, tmp_path):
    """process_queue signs each file as it sends it (smtpx.dkim.apply.sign_claimed)."""
    from smtpx.queue.files import write_queue_file
    from tests.dkim.test_queue_signed import RawQueued

    server = milter_postfix
    for name in ("folded", "no_final_crlf", "large"):
        write_queue_file(tmp_path, RawQueued(with_case(f"queue-{name}", MESSAGES[name]), rcpt=RCPT))
    smtp = client(server, dkim=signers(*SETS["B"]))
    run = smtp.process_queue(str(tmp_path))
    assert len(run.sent) == 3 and run.failed == []
    for name in ("folded", "no_final_crlf", "large"):
        assert verdicts(server.wait_for_delivery(f"X-Case: queue-{name}\n")) == PASS_BOTH, name


def test_a_streamed_body_signed_without_holding_it_passes(milter_postfix, tmp_path):
    """set_message_stream: the body hash is computed as the stream is read (spooled to a
    temporary file past SPOOL_IN_MEMORY), then sent over BDAT from the copy."""
    from smtpx.dkim.apply import SPOOL_IN_MEMORY

    server = milter_postfix
    body = tmp_path / "body.txt"
    line = b".streamed line with  spaces \t\n"
    body.write_bytes(line * (SPOOL_IN_MEMORY * 3 // 2 // len(line)) + b"last line without end  ")
    smtp = client(server, dkim=signers(*SETS["A"]), from_="alice@example.com", send_to=RCPT, subject="stream")
    smtp.config("OtherHeaders=X-Case: stream")
    log_start = len(server.log_text())
    with open(body, "rb") as stream:
        smtp.set_message_stream(stream)
        smtp.send()
    # (the last line too: local delivery may still be appending the 1.5 MB body to the mailbox)
    delivered = server.wait_for_delivery("X-Case: stream\n", "last line without end")
    assert verdicts(delivered) == PASS_BOTH
    assert delivered.count(".streamed line with") == SPOOL_IN_MEMORY * 3 // 2 // len(line)
    server.wait_for_log("< localhost[127.0.0.1]: BDAT", start=log_start)
