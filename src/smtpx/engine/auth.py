"""The AUTH exchange (RFC 4954) driving a SASL mechanism object from smtpx.sasl.

Safety rules: the mechanism must be offered (no fallback to another one); PLAIN/LOGIN are
refused over plaintext unless allowed; at most MAX_CHALLENGES 334 rounds; traces show the
mechanism name but never the credentials, nor server lines that could echo them.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

from smtpx.engine.capabilities import Capabilities
from smtpx.engine.channel import IO, Channel, reply_error
from smtpx.engine.commands import command
from smtpx.engine.options import EngineOptions
from smtpx.errors import SMTPAuthError, SMTPError
from smtpx.kernels import Reply

MAX_CHALLENGES = 5
MASK = "****"
_MAX_AUTH_LINE = 510  # RFC 4954 section 4: 512 octets with CRLF; longer goes in a 334 round


def authenticate(channel: Channel, options: EngineOptions, caps: Capabilities, tls_active: bool, mech: Any) -> IO:
    name = str(mech.name).upper()
    if name not in caps.auth_mechanisms:
        offered = " ".join(sorted(caps.auth_mechanisms)) or "none"
        raise SMTPAuthError(f"the server does not offer AUTH {name} (offered: {offered}); nothing was sent")
    if mech.sends_cleartext and not tls_active and not options.allow_plaintext_auth:
        raise SMTPAuthError(
            f"AUTH {name} would send the password in clear over an unencrypted connection; "
            "use TLS or allow it explicitly (AllowPlaintextAuth); nothing was sent",
            plaintext_auth_refused=True,  # the CLI names its own flags for this one
        )
    masking = options.mask_sensitive
    secrets: list[str] = []  # every base64 blob sent, masked wherever a server line echoes it

    def send_secret(line: str, trace: str) -> IO:
        secrets.append(line.split(" ")[-1])
        yield from channel.send([command(line, trace=trace if masking else None)])

    def mask_server(code: int, line: str) -> str:
        if code == 334:
            return f"334 {MASK}"
        for secret in secrets:
            if len(secret) >= 4:
                line = line.replace(secret, MASK)
        return line

    def failure(description: str, reply: Reply) -> SMTPError:
        # The error text is logged as often as the trace: mask it the same way.
        if masking:
            lines = [MASK] if reply.code == 334 else [mask_server(reply.code, line) for line in reply.lines]
            reply = Reply(reply.code, reply.enhanced, lines)
        return reply_error(SMTPAuthError, description, reply)

    initial = mech.initial_response()
    pending_initial: str | None = None
    if initial is None:
        yield from channel.send([command(f"AUTH {name}")])
    else:
        encoded = base64.b64encode(initial).decode("ascii") or "="
        line = f"AUTH {name} {encoded}"
        if len(line) > _MAX_AUTH_LINE:
            pending_initial = encoded if encoded != "=" else ""
            yield from channel.send([command(f"AUTH {name}")])
        else:
            yield from send_secret(line, f"AUTH {name} {MASK}")

    if masking:
        channel.server_masker = mask_server
    try:
        rounds = 0
        while True:
            reply: Reply = yield from channel.read_reply(f"AUTH {name}")
            if reply.code != 334:
                break
            rounds += 1
            if rounds > MAX_CHALLENGES:
                yield from _abort(channel, name)
                raise failure(f"AUTH {name} aborted after {MAX_CHALLENGES} challenge rounds", reply)
            if pending_initial is not None:
                response_text, pending_initial = pending_initial, None
            else:
                challenge = _decode_challenge(reply)
                if challenge is None:
                    yield from _abort(channel, name)
                    raise failure(f"AUTH {name}: the challenge is not valid base64", reply)
                try:
                    response = mech.respond(challenge)
                except SMTPError:
                    yield from _abort(channel, name)
                    raise
                response_text = base64.b64encode(response).decode("ascii")
            yield from send_secret(response_text, MASK)
        if reply.code != 235:
            raise failure(f"AUTH {name} failed", reply)
        verify = getattr(mech, "verify_success", None)
        if verify is not None:
            try:
                verify(b"")
            except SMTPError:
                channel.closed = True  # the server did not prove itself: drop the session
                raise
        channel.check_no_leftover(f"after AUTH {name}")
        return reply
    finally:
        channel.server_masker = None


def _decode_challenge(reply: Reply) -> bytes | None:
    text = reply.lines[-1].strip() if reply.lines else ""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _abort(channel: Channel, name: str) -> IO:
    """Cancel the exchange with '*' (RFC 4954 section 4) and take the server's 501."""
    yield from channel.send([command("*")])
    yield from channel.read_reply(f"AUTH {name} cancel")
