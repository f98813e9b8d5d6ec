"""Helpers for the asyncio tests: run a coroutine on a fresh loop with a safety net; an aiosmtpd
server that holds a reply until released (for interrupt and cancel tests)."""
from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any, Awaitable, Callable

from smtpx.aio import AsyncSMTP


def arun(make: Callable[[], Awaitable[Any]], limit: float = 60.0) -> Any:
    """asyncio.run(make()) with an overall limit, so a hung test fails instead of stalling."""

    async def main() -> Any:
        return await asyncio.wait_for(make(), limit)

    return asyncio.run(main())


def client_for(srv: Any, **props: Any) -> AsyncSMTP:
    props.setdefault("from_", "Sender <sender@example.com>")
    props.setdefault("send_to", "rcpt@example.com")
    props.setdefault("timeout", 20)
    return AsyncSMTP(mail_server=srv.host, mail_port=srv.port, **props)


def trail_of(client: AsyncSMTP) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    client.on_pi_trail = lambda event: lines.append((event.direction, event.message))
    return lines


class _HoldingHandler:
    def __init__(self, server: "HoldingServer") -> None:
        self.server = server

    async def handle_DATA(self, smtp, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        srv = self.server
        with srv.lock:
            hold = srv.holds > 0
            srv.holds -= hold
        if hold:
            # The reply to "." waits until the test releases it (or 30 s pass): the client is
            # mid-method for as long as the test needs, with no timing involved.
            srv.arrived.set()
            await asyncio.get_running_loop().run_in_executor(None, srv.release.wait, 30)
            srv.released_replies += 1
            return "451 4.3.0 held reply, after the client left"
        srv.messages.append(bytes(envelope.original_content))
        srv.rcpt_lists.append(list(envelope.rcpt_tos))
        return "250 2.0.0 stored"


class HoldingServer:
    """An aiosmtpd server (own thread and loop) on 127.0.0.1 that stores each message's bytes
    exactly, and holds its reply to the first ``holds`` end-of-data until ``release`` is set
    (``arrived`` is set when one is being held)."""

    def __init__(self, holds: int = 1) -> None:
        from aiosmtpd.controller import Controller

        self.lock = threading.Lock()
        self.holds = holds
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.released_replies = 0
        self.messages: list[bytes] = []
        self.rcpt_lists: list[list[str]] = []
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.host, self.port = sock.getsockname()

        class _Controller(Controller):
            def _create_server(inner):  # noqa: N805 - the listening socket is bound already
                return inner.loop.create_server(inner._factory_invoker, sock=sock)

        self._controller = _Controller(_HoldingHandler(self), hostname=self.host, port=self.port,
                                       decode_data=False)

    def __enter__(self) -> "HoldingServer":
        self._controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release.set()
        self._controller.stop()


def interrupt_when(event: threading.Event, client: AsyncSMTP) -> threading.Thread:
    """A thread (not the loop's) that calls client.interrupt() once ``event`` is set."""

    def main() -> None:
        if event.wait(30):
            client.interrupt()

    thread = threading.Thread(target=main, name="interrupter", daemon=True)
    thread.start()
    return thread
