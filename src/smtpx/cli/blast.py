"""``smtpx blast``: like Postfix's smtp-source, COUNT generated messages of SIZE bytes to one
server over C connections (``SMTPPool.iter_batch``: the messages are made lazily, as the
connections take them, so memory stays flat whatever COUNT), then a summary with the rates.
For testing a relay or a sink, not for mail people read."""
from __future__ import annotations

import argparse
import email.utils
import secrets
import sys
import time
from collections import Counter
from collections.abc import Iterator

from smtpx.cli.exits import EXIT_OK, EXIT_PARTIAL, CommandLineError, exit_code, report
from smtpx.cli.options import connection_settings
from smtpx.cli.progress import progress
from smtpx.errors import SMTPError

DEFAULT_FROM = "blast@example.com"
DEFAULT_TO = "sink@example.com"
_LINE = b"x" * 76 + b"\r\n"


class Generated:
    """Messages of ``size`` bytes (headers included; never less than the headers and an empty
    body), each with its own Subject and Message-ID, made one at a time."""

    def __init__(self, mail_from: str, recipients: list[str], size: int) -> None:
        self.mail_from = mail_from
        self.recipients = recipients
        self.size = size
        run = secrets.token_hex(6)
        self._head = (f"From: {mail_from}\r\nTo: {', '.join(recipients)}\r\n"
                      f"Date: {email.utils.formatdate(localtime=True)}\r\n"
                      "Subject: smtpx blast {n}\r\n"
                      f"Message-ID: <{{n}}.{run}@smtpx-blast.invalid>\r\n\r\n")
        self._filler = _LINE * (size // len(_LINE) + 1)

    def message(self, n: int) -> bytes:
        head = self._head.format(n=n).encode("utf-8")
        room = self.size - len(head) - 2  # the body's last CRLF
        if room < 0:
            return head
        body = self._filler[:room]
        if body.endswith(b"\r"):  # never a bare CR before the final CRLF
            body = body[:-1] + b"x"
        return head + body + b"\r\n"

    def length(self, n: int) -> int:
        """len(message(n)), without making it."""
        return max(self.size, len(self._head.format(n=n).encode("utf-8")))

    def messages(self, count: int) -> Iterator[tuple[str, list[str], bytes]]:
        for n in range(1, count + 1):
            yield self.mail_from, self.recipients, self.message(n)


def _print_summary(args: argparse.Namespace, sent: int, failed: int, sent_bytes: int, elapsed: float) -> None:
    host, _port = args.server
    rate = sent / elapsed if elapsed > 0 else 0.0
    per_message = elapsed / sent * 1000 if sent else 0.0
    print(f"blast: {args.count} messages of {args.size} bytes to {host} over {args.connections} connection(s)")
    print(f"sent:             {sent}")
    print(f"failed:           {failed}")
    print(f"elapsed:          {elapsed:.3f} s")
    print(f"msgs/s:           {rate:.1f}")
    print(f"bytes/s:          {sent_bytes / elapsed if elapsed > 0 else 0.0:,.0f}")
    print(f"time per message: {per_message:.3f} ms")


def blast(args: argparse.Namespace) -> int:
    import smtpx

    recipients = [r.strip() for value in args.to for r in value.split(",") if r.strip()] or [DEFAULT_TO]
    try:
        settings, config = connection_settings(args)
        smtpx.SMTP(from_=args.from_, send_to=", ".join(recipients))  # bad addresses: here, before connecting
        generated = Generated(args.from_, recipients, args.size)
    except (CommandLineError, SMTPError) as exc:
        return report(exc)
    bar = progress(args.count, unit="msg", desc="blast", enabled=not args.no_progress)
    sent = failed = sent_bytes = 0
    errors: Counter[tuple[int, str]] = Counter()
    last_error: SMTPError | None = None
    started = time.perf_counter()
    try:
        with smtpx.SMTPPool(args.connections, **settings, config=config) as pool:
            for index, outcome in pool.iter_batch(generated.messages(args.count)):
                if isinstance(outcome, SMTPError):
                    failed += 1
                    last_error = outcome
                    errors[(outcome.code, outcome.description)] += 1
                    bar.advance(failed=1)
                else:
                    sent += 1
                    sent_bytes += generated.length(index + 1)
                    bar.advance()
    except SMTPError as exc:  # the pool's settings (nothing was sent)
        bar.close()
        return report(exc)
    finally:
        bar.close()
    elapsed = time.perf_counter() - started
    _print_summary(args, sent, failed, sent_bytes, elapsed)
    for (code, description), times in errors.most_common(5):
        print(f"smtpx: {times} failed with [{code}] {description}", file=sys.stderr)
    if failed == 0:
        return EXIT_OK
    if sent == 0 and last_error is not None:
        return exit_code(last_error)  # nothing went: why (could not connect, refused...)
    return EXIT_PARTIAL
