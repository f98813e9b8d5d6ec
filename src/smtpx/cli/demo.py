"""``smtpx demo``: start an aiosmtpd sink on a free loopback port, send it one message through
smtpx (a non-ASCII subject, a body line starting with "."), and print the protocol trace and the
message exactly as the sink stored it. Needs the ``demo`` extra (aiosmtpd)."""
from __future__ import annotations

import email
import email.policy
import socket
import threading
from typing import Any, TextIO

from aiosmtpd.controller import Controller  # ImportError here means: pip install smtpx[demo]

import smtpx

SUBJECT = "Grüße from smtpx — ünïcødé ✉"
BODY = (
    "Hello from smtpx.\r\n"
    ".This line starts with a dot: smtpx doubles it on the wire, the sink removes it again.\r\n"
    "Bye.\r\n"
)


class _Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.received = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content)))
        self.received.set()
        return "250 2.0.0 OK: stored by the smtpx demo sink"


class _LoopbackController(Controller):
    """aiosmtpd's controller on a socket bound beforehand, so the port is free for sure."""

    def __init__(self, handler: Any) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        super().__init__(handler, hostname="127.0.0.1", port=self._sock.getsockname()[1],
                         server_hostname="demo-sink.localhost")

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


def run_demo(out: TextIO) -> int:
    sink = _Sink()
    controller = _LoopbackController(sink)
    controller.start()
    try:
        print(f"smtpx {smtpx.__version__}: demo sink (aiosmtpd) listening on 127.0.0.1:{controller.port}\n", file=out)
        print("--- protocol trace (C: client, S: server, *: info) ---", file=out)
        marks = {0: "C:", 1: "S:", 2: "* "}
        wire: list[bytes] = []
        smtp = smtpx.SMTP(
            mail_server="127.0.0.1",
            mail_port=controller.port,
            from_="smtpx demo <demo@example.com>",
            send_to="Recipient <rcpt@example.com>",
            subject=SUBJECT,
            message_text=BODY,
            on_pi_trail=lambda e: print(f"{marks.get(e.direction, '?')} {e.message}", file=out),
            on_transfer=lambda e: wire.append(e.text),
        )
        result = smtp.send()
        sink.received.wait(5)
        print(f"\naccepted: {', '.join(r.address for r in result.accepted)}", file=out)
        body_on_wire = b"".join(wire).split(b"\r\n\r\n", 1)[-1]
        print("\n--- the body as it went on the wire after DATA (dot-stuffed, ends with '.') ---", file=out)
        print(body_on_wire.decode("utf-8", "replace").replace("\r\n", "\n"), end="", file=out)
        print("\n--- the message as the sink received it ---", file=out)
        for mail_from, rcpt_tos, data in sink.messages:
            print(f"MAIL FROM: {mail_from}   RCPT TO: {', '.join(rcpt_tos)}", file=out)
            print(data.decode("utf-8", "replace").replace("\r\n", "\n"), file=out)
            subject = email.message_from_bytes(data, policy=email.policy.default)["Subject"]
            print(f"(the Subject header decodes back to: {subject})", file=out)
        return 0 if sink.messages else 1
    finally:
        controller.stop()
