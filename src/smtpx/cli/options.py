"""The flags the subcommands share: the connection ones (server, TLS, AUTH, trace) and the
message ones (addresses, subject, body, --html, --attach, --header), their parsing (a bad
value is argparse's usage error, exit 2, naming the flag), and the ``smtpx.SMTP`` settings
the connection flags stand for."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable

from smtpx.cli.exits import EXIT_INPUT, CommandLineError
from smtpx.events import PITrailEvent

TLS_MODES = {"none": 3, "starttls": 2, "implicit": 1, "auto": 0}
AUTH_MECHANISMS = {"login": 0, "cram-md5": 1, "ntlm": 2, "plain": 4, "digest-md5": 5, "xoauth2": 7}

# Headers the command composes from its own flags: --header may not add a second one.
_COMPOSED = {
    "from": "--from", "to": "--to", "cc": "--cc", "bcc": "--bcc (Bcc is never written)",
    "subject": "--subject", "mime-version": "--body / --html / --attach",
    "content-type": "--body / --html / --attach", "content-transfer-encoding": "--body / --html / --attach",
}


# --------------------------------------------------------------------------- value parsers
def server_address(text: str) -> tuple[str, int | None]:
    """``HOST``, ``HOST:PORT``, ``[IPv6]:PORT`` or a bare IPv6 address."""
    text = text.strip()
    host, port = text, ""
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or (close + 1 < len(text) and text[close + 1] != ":"):
            raise argparse.ArgumentTypeError(f"{text!r} is not HOST, HOST:PORT or [IPv6]:PORT")
        host, port = text[1:close], text[close + 2:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not host:
        raise argparse.ArgumentTypeError("the host name is empty")
    if port == "":
        return host, None
    return host, port_number(port)


def port_number(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return int(text)


def positive(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return int(text)


def header_line(text: str) -> tuple[str, str]:
    """``"Name: value"``: a field name of printable ASCII without ":" (RFC 5322 2.2), no CR, LF
    or NUL anywhere (one header per flag: a line break would smuggle in another header)."""
    for bad, name in (("\r", "CR"), ("\n", "LF"), ("\0", "NUL")):
        if bad in text:
            raise argparse.ArgumentTypeError(f"{text!r} contains {name}: give one header per --header, on one line")
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not \"Name: value\"")
    if any(not 33 <= ord(c) <= 126 for c in name):
        raise argparse.ArgumentTypeError(f"{name!r} is not a header name (printable ASCII, no spaces)")
    flag = _COMPOSED.get(name.lower())
    if flag is not None:
        raise argparse.ArgumentTypeError(f"{name} is written from {flag}, not --header")
    return name, value.strip()


# --------------------------------------------------------------------------- flag groups
def add_server_flags(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("--server", required=required, type=server_address, metavar="HOST[:PORT]",
                        help="mail server host name or address, optionally with the port")
    parser.add_argument("--port", type=port_number, default=None,
                        help="server port (default 25; 465 with --tls implicit)")
    parser.add_argument("--tls", choices=sorted(TLS_MODES), default="none",
                        help="none (default), starttls (required), implicit (TLS from the start), "
                             "auto (STARTTLS on ports 25/587, implicit elsewhere)")
    parser.add_argument("--ca-file", default=None,
                        help="PEM file (or folder of PEM files) of CA certificates to trust for the server, "
                             "besides the platform's store")
    parser.add_argument("--user", default="", help="user name for AUTH")
    parser.add_argument("--password-env", default="SMTPX_PASSWORD",
                        help="environment variable holding the password, or the OAuth token with "
                             "--auth xoauth2 (default SMTPX_PASSWORD); never pass secrets as arguments")
    parser.add_argument("--auth", default=None, choices=list(AUTH_MECHANISMS),
                        help="SASL mechanism (default login)")
    parser.add_argument("--allow-plaintext-auth", action="store_true",
                        help="allow PLAIN/LOGIN without TLS (the password then crosses the network in clear)")
    parser.add_argument("--dkim-key", default=None, metavar="PEM_FILE",
                        help="sign every message with DKIM using this private key (RSA or Ed25519, PEM); "
                             "needs --dkim-selector and --dkim-domain (docs/dkim.md)")
    parser.add_argument("--dkim-selector", default=None, help="the DKIM selector (s=)")
    parser.add_argument("--dkim-domain", default=None, help="the DKIM signing domain (d=)")
    parser.add_argument("--timeout", type=int, default=60, help="inactivity timeout in seconds (default 60)")
    parser.add_argument("--trace", action="store_true", help="print the protocol trace to stderr")


def add_message_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="from_", required=True, help='sender, e.g. "Ann <ann@example.com>"')
    parser.add_argument("--to", action="append", default=[], help="recipient (repeat, or comma-separate)")
    parser.add_argument("--cc", action="append", default=[], help="copy recipient (repeatable)")
    parser.add_argument("--bcc", action="append", default=[], help="blind copy recipient (repeatable)")
    parser.add_argument("--subject", default="", help="subject (any Unicode)")
    body = parser.add_mutually_exclusive_group()
    body.add_argument("--body", default=None, help="message body text")
    body.add_argument("--body-file", default=None, help="read the body from this file ('-' = stdin), UTF-8")
    parser.add_argument("--html", default=None, metavar="FILE_OR_TEXT",
                        help="an HTML alternative beside the text body: HTML text (it contains '<') or a "
                             "UTF-8 file; without a text body the message is HTML only")
    parser.add_argument("--attach", action="append", default=[], metavar="PATH",
                        help="attach this file (repeatable); its type is guessed from its name")
    parser.add_argument("--header", action="append", default=[], type=header_line, metavar='"NAME: VALUE"',
                        help="add this header (repeatable); Date and Message-ID replace the generated ones")


def add_progress_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (there is none anyway when stderr is not a terminal)")


# --------------------------------------------------------------------------- settings
def _trace_printer(out: Any) -> Callable[[PITrailEvent], None]:
    marks = {0: "C:", 1: "S:", 2: "*"}

    def trace(event: PITrailEvent) -> None:
        print(f"{marks.get(event.direction, '?')} {event.message}", file=out, flush=True)

    return trace


def _dkim_signer(args: argparse.Namespace) -> Any:
    """The DKIMSigner the --dkim-* flags describe, or None; a flag missing its partners or a
    key, selector or domain smtpx.dkim refuses is a CommandLineError naming the flag."""
    given = {"--dkim-key": args.dkim_key, "--dkim-selector": args.dkim_selector, "--dkim-domain": args.dkim_domain}
    if not any(given.values()):
        return None
    missing = [flag for flag, value in given.items() if not value]
    if missing:
        raise CommandLineError(f"DKIM signing needs {', '.join(missing)} too (--dkim-key, --dkim-selector and "
                               "--dkim-domain go together)")
    from smtpx.dkim import DKIMSigner
    from smtpx.errors import SMTPInputError

    try:
        return DKIMSigner(domain=args.dkim_domain, selector=args.dkim_selector, private_key=args.dkim_key)
    except SMTPInputError as error:
        raise CommandLineError(f"--dkim-key / --dkim-selector / --dkim-domain: {error.description}",
                               EXIT_INPUT) from None


def connection_settings(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """The ``smtpx.SMTP`` properties and config strings the connection flags stand for (the same
    for an SMTP and for each connection of an SMTPPool). Raises CommandLineError."""
    host, port = args.server
    if port is not None and args.port is not None and port != args.port:
        raise CommandLineError(f"--server gives port {port} and --port gives {args.port}: give one")
    if port is None:
        port = args.port if args.port is not None else (465 if args.tls == "implicit" else 25)
    settings: dict[str, Any] = {"mail_server": host, "mail_port": port, "timeout": args.timeout,
                                "ssl_start_mode": TLS_MODES[args.tls]}
    config: list[str] = []
    if args.ca_file:  # a PEM file or a folder of PEM files, checked at once
        config.append("SSLServerCACerts=" + args.ca_file)
    if args.user:
        secret = os.environ.get(args.password_env, "")
        if not secret:
            raise CommandLineError(f"--user given but the environment variable {args.password_env} is empty",
                                   EXIT_INPUT)
        settings["user"] = args.user
        if args.auth == "xoauth2":
            config.append("AuthorizationIdentity=" + secret)  # the OAuth token, as the reference says
        else:
            settings["password"] = secret
        if args.auth:
            settings["auth_mechanism"] = AUTH_MECHANISMS[args.auth]
    if args.allow_plaintext_auth:
        config.append("AllowPlaintextAuth=True")
    signer = _dkim_signer(args)
    if signer is not None:
        settings["dkim"] = signer
    if args.trace:
        settings["on_pi_trail"] = _trace_printer(sys.stderr)
    return settings, config
