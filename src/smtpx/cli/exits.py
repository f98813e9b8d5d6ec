"""The command's exit codes and how an error is reported: one table for every subcommand."""
from __future__ import annotations

import sys
from typing import TextIO

from smtpx.errors import (
    SMTPAuthError,
    SMTPConnectError,
    SMTPError,
    SMTPFirewallError,
    SMTPInputError,
    SMTPNotSupportedError,
    SMTPReplyError,
    SMTPServiceClosing,
    SMTPTimeoutError,
    SMTPTLSError,
)

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
  {EXIT_OK:<3} sent; every recipient accepted (queue run, blast: every message sent)
  {EXIT_PARTIAL:<3} sent, but some recipients were refused (listed on stderr); queue run, blast:
      some messages failed (queue run leaves them *.failed)
  {EXIT_USAGE:<3} bad command line (the message names the flag)
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

# Most specific first: SMTPFirewallError is an SMTPConnectError, SMTPServiceClosing a reply error.
_BY_KIND: tuple[tuple[type[BaseException], int], ...] = (
    (SMTPInputError, EXIT_INPUT),
    (SMTPFirewallError, EXIT_CONNECT),
    (SMTPConnectError, EXIT_CONNECT),
    (SMTPTLSError, EXIT_TLS),
    (SMTPAuthError, EXIT_AUTH),
    (SMTPServiceClosing, EXIT_PROTOCOL),
    (SMTPReplyError, EXIT_REFUSED),
    (SMTPNotSupportedError, EXIT_REFUSED),
    (SMTPTimeoutError, EXIT_TIMEOUT),
)


class CommandLineError(Exception):
    """A problem the command line itself finds (a flag's value, a file it names): printed as
    ``smtpx: error: <message>``, exit ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def exit_code(exc: BaseException) -> int:
    for kind, code in _BY_KIND:
        if isinstance(exc, kind):
            return code
    return EXIT_PROTOCOL


def describe(exc: SMTPError) -> str:
    """The error's description, with command-line flags named instead of config keys."""
    description = exc.description
    if getattr(exc, "plaintext_auth_refused", False):
        flags = ("use --tls starttls (or --tls implicit) to encrypt the connection, or "
                 "--allow-plaintext-auth to send the password in clear anyway")
        config_hint = "use TLS or allow it explicitly (AllowPlaintextAuth)"
        description = (description.replace(config_hint, flags) if config_hint in description
                       else f"{description}; {flags}")
    return description


def report(exc: BaseException, out: TextIO | None = None) -> int:
    """Print ``exc`` the command's way and return its exit code."""
    stream = out if out is not None else sys.stderr
    if isinstance(exc, CommandLineError):
        print(f"smtpx: error: {exc}", file=stream)
        return exc.code
    if isinstance(exc, SMTPError):
        print(f"smtpx: error [{exc.code}]: {describe(exc)}", file=stream)
        return exit_code(exc)
    print(f"smtpx: error: {exc}", file=stream)  # OSError: a file the command reads or writes
    return EXIT_INPUT
