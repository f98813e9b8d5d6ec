"""The ``smtpx`` command: ``smtpx send ...`` sends one message, ``smtpx demo`` shows a whole
session against an embedded local sink. Run ``smtpx --help`` for the options and exit codes."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence, TextIO

from smtpx.events import PITrailEvent

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_CONNECT = 4
EXIT_TLS = 5
EXIT_AUTH = 6
EXIT_REFUSED = 7
EXIT_PROTOCOL = 8
EXIT_TIMEOUT = 9
EXIT_MISSING = 10

EXIT_CODES_HELP = f"""\
exit codes:
  {EXIT_OK:<3} sent; every recipient accepted
  {EXIT_PARTIAL:<3} sent, but some recipients were refused (listed on stderr)
  {EXIT_USAGE:<3} bad command line
  {EXIT_INPUT:<3} bad input: an address, header, option or file (nothing was sent)
  {EXIT_CONNECT:<3} could not connect (refused, host not found, proxy failure)
  {EXIT_TLS:<3} TLS failed (certificate refused, handshake failed, STARTTLS missing)
  {EXIT_AUTH:<3} authentication failed or was refused
  {EXIT_REFUSED:<3} the server refused the sender, the recipients or the message
  {EXIT_PROTOCOL:<3} the server broke the protocol, closed the connection, or said 421
  {EXIT_TIMEOUT:<3} a timeout expired
  {EXIT_MISSING:<3} an optional package is missing (e.g. aiosmtpd for the demo)
errors are printed to stderr as "smtpx: error [<code>]: <description>", where <code> is the
class reference's error number (e.g. 10061 connection refused, 280 certificate refused).
"""

TLS_MODES = {"none": 3, "starttls": 2, "implicit": 1, "auto": 0}


def _exit_code(exc: BaseException) -> int:
    from smtpx import errors as e

    for kind, code in (
        (e.SMTPInputError, EXIT_INPUT),
        (e.SMTPFirewallError, EXIT_CONNECT),
        (e.SMTPConnectError, EXIT_CONNECT),
        (e.SMTPTLSError, EXIT_TLS),
        (e.SMTPAuthError, EXIT_AUTH),
        (e.SMTPServiceClosing, EXIT_PROTOCOL),
        (e.SMTPReplyError, EXIT_REFUSED),
        (e.SMTPNotSupportedError, EXIT_REFUSED),
        (e.SMTPTimeoutError, EXIT_TIMEOUT),
    ):
        if isinstance(exc, kind):
            return code
    return EXIT_PROTOCOL


def _trace_printer(out: TextIO) -> Callable[[PITrailEvent], None]:
    marks = {0: "C:", 1: "S:", 2: "*"}

    def trace(event: PITrailEvent) -> None:
        print(f"{marks.get(event.direction, '?')} {event.message}", file=out, flush=True)

    return trace


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smtpx",
        description="Send mail with smtpx, or watch a demo session against a local sink.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="{send,demo}")
    sub.required = True

    send = sub.add_parser(
        "send",
        help="send one message",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    send.add_argument("--server", required=True, help="mail server host name or address")
    send.add_argument("--port", type=int, default=None, help="server port (default 25; 465 with --tls implicit)")
    send.add_argument("--from", dest="from_", required=True, help='sender, e.g. "Ann <ann@example.com>"')
    send.add_argument("--to", action="append", default=[], help="recipient (repeat, or comma-separate)")
    send.add_argument("--cc", action="append", default=[], help="copy recipient (repeatable)")
    send.add_argument("--bcc", action="append", default=[], help="blind copy recipient (repeatable)")
    send.add_argument("--subject", default="", help="subject (any Unicode)")
    body = send.add_mutually_exclusive_group()
    body.add_argument("--body", default=None, help="message body text")
    body.add_argument("--body-file", default=None, help="read the body from this file ('-' = stdin), UTF-8")
    send.add_argument("--tls", choices=sorted(TLS_MODES), default="none",
                      help="none (default), starttls (required), implicit (TLS from the start), "
                           "auto (STARTTLS on ports 25/587, implicit elsewhere)")
    send.add_argument("--ca-file", default=None, help="PEM file (or folder of PEM files) of CA certificates to trust for the server, besides the platform's store")
    send.add_argument("--user", default="", help="user name for AUTH")
    send.add_argument("--password-env", default="SMTPX_PASSWORD",
                      help="environment variable holding the password, or the OAuth token with "
                           "--auth xoauth2 (default SMTPX_PASSWORD); never pass secrets as arguments")
    send.add_argument("--auth", default=None,
                      choices=["login", "plain", "cram-md5", "digest-md5", "xoauth2", "ntlm"],
                      help="SASL mechanism (default login)")
    send.add_argument("--allow-plaintext-auth", action="store_true",
                      help="allow PLAIN/LOGIN without TLS (the password then crosses the network in clear)")
    send.add_argument("--timeout", type=int, default=60, help="inactivity timeout in seconds (default 60)")
    send.add_argument("--trace", action="store_true", help="print the protocol trace to stderr")

    sub.add_parser("demo", help="send a sample message to an embedded local sink (needs smtpx[demo])")
    return parser


_AUTH = {"login": 0, "cram-md5": 1, "ntlm": 2, "plain": 4, "digest-md5": 5, "xoauth2": 7}


def _split(values: list[str]) -> str:
    return ", ".join(v.strip() for v in values if v.strip())


def _send(args: argparse.Namespace) -> int:
    import smtpx

    if not args.to and not args.cc and not args.bcc:
        print("smtpx: error: give at least one --to, --cc or --bcc", file=sys.stderr)
        return EXIT_USAGE
    if args.body_file is not None:
        try:
            if args.body_file == "-":
                text = sys.stdin.read()
            else:
                with open(args.body_file, encoding="utf-8") as handle:
                    text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"smtpx: error: cannot read the body file: {exc}", file=sys.stderr)
            return EXIT_INPUT
    else:
        text = args.body or ""
    port = args.port if args.port is not None else (465 if args.tls == "implicit" else 25)
    smtp = smtpx.SMTP()
    try:
        smtp.mail_server = args.server
        smtp.mail_port = port
        smtp.from_ = args.from_
        smtp.send_to = _split(args.to)
        smtp.cc = _split(args.cc)
        smtp.bcc = _split(args.bcc)
        smtp.subject = args.subject
        smtp.message_text = text
        smtp.timeout = args.timeout
        smtp.ssl_start_mode = TLS_MODES[args.tls]
        if not args.to:
            smtp.config("AllowEmptyTo=True")
        if args.ca_file:  # a PEM file or a folder of PEM files, checked at once
            smtp.config("SSLServerCACerts=" + args.ca_file)
        if args.user:
            secret = os.environ.get(args.password_env, "")
            if not secret:
                print(f"smtpx: error: --user given but the environment variable {args.password_env} is empty",
                      file=sys.stderr)
                return EXIT_INPUT
            smtp.user = args.user
            if args.auth == "xoauth2":
                smtp.config("AuthorizationIdentity=" + secret)  # the OAuth token, as the reference says
            else:
                smtp.password = secret
            if args.auth:
                smtp.auth_mechanism = _AUTH[args.auth]
        if args.allow_plaintext_auth:
            smtp.config("AllowPlaintextAuth=True")
        if args.trace:
            smtp.on_pi_trail = _trace_printer(sys.stderr)
        result = smtp.send()
    except smtpx.SMTPError as exc:
        description = exc.description
        if getattr(exc, "plaintext_auth_refused", False):  # name the flags, not the config key
            flags = ("use --tls starttls (or --tls implicit) to encrypt the connection, or "
                     "--allow-plaintext-auth to send the password in clear anyway")
            config_hint = "use TLS or allow it explicitly (AllowPlaintextAuth)"
            description = (description.replace(config_hint, flags) if config_hint in description
                           else f"{description}; {flags}")
        print(f"smtpx: error [{exc.code}]: {description}", file=sys.stderr)
        return _exit_code(exc)
    except OSError as exc:
        print(f"smtpx: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
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
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "send":
        return _send(args)
    return _demo()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
