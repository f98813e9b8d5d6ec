"""``smtpx queue add DIR ...`` writes one message to the durable queue (``SMTP.queue``, so the
file is exactly what the library writes); ``smtpx queue run DIR --server ...`` sends the
folder (``SMTP.process_queue``, or ``SMTPPool(N).process_queue`` with ``--connections N``) and
prints what became of the files."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from smtpx.cli.exits import EXIT_OK, EXIT_PARTIAL, CommandLineError, report
from smtpx.cli.message import message_settings
from smtpx.cli.options import connection_settings
from smtpx.cli.progress import progress
from smtpx.errors import SMTPError

_PENDING = (".queued", ".sending")


def queue_add(args: argparse.Namespace) -> int:
    import smtpx

    try:
        props, config = message_settings(args)
        path = smtpx.SMTP(**props, config=config).queue(args.dir)
    except (CommandLineError, SMTPError, OSError) as exc:
        return report(exc)
    print(path)
    return EXIT_OK


def _pending(folder: str) -> int | None:
    """Files a run will claim (for the bar's total); None when the folder cannot be read (the
    run itself then reports it)."""
    try:
        with os.scandir(folder) as entries:
            return sum(1 for entry in entries if entry.name.endswith(_PENDING))
    except OSError:
        return None


def _summary(run: Any) -> None:
    print(f"queue run: {len(run.sent)} sent, {len(run.failed)} failed, {len(run.recovered)} recovered")
    for name, error in run.failed:
        text = f"[{error.code}] {error.description}" if isinstance(error, SMTPError) else str(error)
        print(f"smtpx: failed {name}: {text}", file=sys.stderr)


def queue_run(args: argparse.Namespace) -> int:
    import smtpx

    try:
        settings, config = connection_settings(args)
    except CommandLineError as exc:
        return report(exc)
    bar = progress(_pending(args.dir), unit="msg", desc="queue run", enabled=not args.no_progress)
    # Per file: its end of data went out (sent, or refused after the data), or it failed.
    settings["on_end_transfer"] = lambda _event: bar.advance()
    settings["on_error"] = lambda _event: bar.advance(0, failed=1)
    try:
        if args.connections > 1:
            with smtpx.SMTPPool(args.connections, **settings, config=config) as pool:
                run = pool.process_queue(args.dir)
        else:
            run = smtpx.SMTP(**settings, config=config).process_queue(args.dir)
    except SMTPError as exc:
        bar.close()
        partial = getattr(exc, "queue_run", None)
        if partial is not None:
            _summary(partial)
        return report(exc)
    finally:
        bar.close()
    _summary(run)
    return EXIT_PARTIAL if run.failed else EXIT_OK
