"""The ``smtpx`` command: ``smtpx send ...`` sends one message, ``smtpx queue add|run`` works
the durable queue, ``smtpx blast`` load-tests a server (like smtp-source), ``smtpx demo`` shows
a whole session against an embedded local sink. Run ``smtpx --help`` for the options and exit
codes; docs/cli.md has the whole story."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from smtpx._version import __version__
from smtpx.cli.exits import (  # noqa: F401  (re-exported: the codes are part of the command's face)
    EXIT_AUTH,
    EXIT_CODES_HELP,
    EXIT_CONNECT,
    EXIT_INPUT,
    EXIT_MISSING,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_PROTOCOL,
    EXIT_REFUSED,
    EXIT_TIMEOUT,
    EXIT_TLS,
    EXIT_USAGE,
    CommandLineError,
    report,
)
from smtpx.cli.options import (
    TLS_MODES,  # noqa: F401  (re-exported)
    add_message_flags,
    add_progress_flag,
    add_server_flags,
    connection_settings,
    positive,
)
from smtpx.errors import SMTPError


def _subparser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]", name: str,
               help_text: str, description: str | None = None) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help_text, description=description or help_text, epilog=EXIT_CODES_HELP,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smtpx",
        description="Send mail with smtpx, work its durable queue, load-test a server, or watch a demo "
                    "session against a local sink.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"smtpx {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{send,queue,blast,demo}")
    sub.required = True

    send = _subparser(sub, "send", "send one message")
    add_server_flags(send)
    add_message_flags(send)

    queue = sub.add_parser("queue", help="the durable queue: add a message, or send the folder",
                           description="The durable queue (docs/queue.md): one file per message in a folder.")
    queue_sub = queue.add_subparsers(dest="queue_command", metavar="{add,run,push}")
    queue_sub.required = True
    add = _subparser(queue_sub, "add", "write one message to the queue folder DIR and print the file's path")
    add.add_argument("dir", metavar="DIR", help="the queue folder (it must exist)")
    add_message_flags(add)
    run = _subparser(queue_sub, "run", "send every queued file of DIR; print how many were sent, failed "
                                       "(left *.failed) and recovered")
    run.add_argument("dir", metavar="DIR", help="the queue folder")
    add_server_flags(run)
    run.add_argument("--connections", "-c", type=positive, default=1, metavar="N",
                     help="connections working the folder at once (default 1; N > 1 uses an SMTPPool)")
    add_progress_flag(run)
    push = _subparser(queue_sub, "push", "turn every queued file of DIR into a Celery task (smtpx.celery); "
                                         "a file is removed once the broker accepted its task")
    push.add_argument("dir", metavar="DIR", help="the queue folder")
    push.add_argument("--broker", required=True, metavar="URL", help="the Celery broker, e.g. redis://host:6379/0")
    push.add_argument("--queue", default=None, metavar="NAME", help="the Celery queue to publish to (default: celery)")

    blast = _subparser(sub, "blast", "send COUNT generated messages over C connections and print the rates",
                       "Like Postfix's smtp-source: COUNT generated messages of SIZE bytes to one server over "
                       "C connections (an SMTPPool), then a summary: sent, failed, elapsed, msgs/s, bytes/s, "
                       "time per message. For testing a relay or a sink.")
    add_server_flags(blast)
    blast.add_argument("-m", "--count", type=positive, required=True, metavar="COUNT", help="messages to send")
    blast.add_argument("-c", "--connections", type=positive, default=1, metavar="C",
                       help="connections at once (default 1)")
    blast.add_argument("-s", "--size", type=positive, default=1024, metavar="SIZE",
                       help="bytes per message, headers included (default 1024)")
    blast.add_argument("--from", dest="from_", default="blast@example.com",
                       help="sender (default blast@example.com)")
    blast.add_argument("--to", action="append", default=[],
                       help="recipient of every message (repeatable; default sink@example.com)")
    add_progress_flag(blast)

    sub.add_parser("demo", help="send a sample message to an embedded local sink (needs smtpx[demo])")
    return parser


def _send(args: argparse.Namespace) -> int:
    import smtpx
    from smtpx.cli.message import message_settings

    try:
        props, message_config = message_settings(args)
        settings, config = connection_settings(args)
        smtp = smtpx.SMTP(**settings, **props, config=[*message_config, *config])
        result = smtp.send()
    except (CommandLineError, SMTPError, OSError) as exc:
        return report(exc)
    for item in result.refused:  # only those the StopOn*Errors rules let through (BCc by default)
        print(f"smtpx: refused {item.address}: {item.reply.code} {item.reply.text}", file=sys.stderr)
    print(f"sent to {', '.join(item.address for item in result.accepted)}")
    return EXIT_PARTIAL if result.refused else EXIT_OK


def _demo() -> int:
    try:
        from smtpx.cli.demo import run_demo
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "aiosmtpd":
            print("smtpx demo needs aiosmtpd, which is not installed. Install it with:\n"
                  "    pip install smtpx[demo]", file=sys.stderr)
            return EXIT_MISSING
        raise
    return run_demo(sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: sys.argv[1:]) and return its exit status (a bad
    command line is 2, after argparse's message on stderr; --help and --version are 0)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's own exits: usage errors, --help, --version
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_USAGE)
    if args.command == "send":
        return _send(args)
    if args.command == "queue":
        from smtpx.cli.queue import queue_add, queue_push, queue_run

        if args.queue_command == "push":
            return queue_push(args)
        return queue_add(args) if args.queue_command == "add" else queue_run(args)
    if args.command == "blast":
        from smtpx.cli.blast import blast

        return blast(args)
    return _demo()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
