"""``smtpx queue add DIR ...`` writes one message to the durable queue (``SMTP.queue``, so the
file is exactly what the library writes); ``smtpx queue run DIR --server ...`` sends the
folder (``SMTP.process_queue``, or ``SMTPPool(N).process_queue`` with ``--connections N``) and
prints what became of the files; ``smtpx queue push DIR --broker URL`` hands the files to Celery
workers instead (smtpx.celery.push)."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from smtpx.cli.exits import EXIT_CONNECT, EXIT_MISSING, EXIT_OK, EXIT_PARTIAL, CommandLineError, report
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


def queue_push(args: argparse.Namespace) -> int:
    """Publish the queued files as smtpx.celery tasks; a file goes only once its task is
    accepted. The broker unreachable: the files stay, exit EXIT_CONNECT."""
    try:
        from celery import Celery  # type: ignore[import-untyped,import-not-found,unused-ignore]

        from smtpx.celery.push import push_queue
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("celery", "kombu", "redis"):
            print("smtpx queue push needs celery and redis. Install them with:\n"
                  "    pip install smtpx[celery]", file=sys.stderr)
            return EXIT_MISSING
        raise
    app = Celery("smtpx-queue-push", broker=args.broker, set_as_current=False)
    app.conf.broker_connection_timeout = 5
    options = {"queue": args.queue} if args.queue else {}
    try:
        run = push_queue(args.dir, app, **options)
    except SMTPError as exc:
        return report(exc)
    except Exception as exc:  # noqa: BLE001 - kombu's OperationalError and friends: the broker refused
        if isinstance(exc, OSError) and not isinstance(exc, ConnectionError):
            return report(exc)  # a file of the folder
        print(f"smtpx: error: the broker did not accept a task: {exc}", file=sys.stderr)
        return EXIT_CONNECT
    finally:
        app.close()
    print(f"queue push: {len(run.pushed)} pushed, {len(run.failed)} failed")
    for name, error in run.failed:
        text = f"[{error.code}] {error.description}" if isinstance(error, SMTPError) else str(error)
        print(f"smtpx: failed {name}: {text}", file=sys.stderr)
    return EXIT_PARTIAL if run.failed else EXIT_OK
