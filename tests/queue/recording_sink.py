"""A real SMTP sink for the queue tests: aiosmtpd on 127.0.0.1 that records every message it
accepted (envelope and the exact bytes received), and can hold one message to let a test
kill the client in the middle of a send."""
from __future__ import annotations

import asyncio
import threading

from aiosmtpd.controller import Controller

from tests.servers.sockets import free_port


class RecordingHandler:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.hold_marker: bytes | None = None  # a message containing it is held once
        self.held = threading.Event()
        self.release = threading.Event()
        self._held_once = False

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        data = envelope.original_content
        if self.hold_marker is not None and self.hold_marker in data and not self._held_once:
            self._held_once = True
            self.held.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
            return "451 4.3.0 held by the test, not accepted"
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), data))
        return "250 2.0.0 OK"


class Sink:
    def __init__(self) -> None:
        self.handler = RecordingHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> "Sink":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.handler.release.set()
        self.controller.stop()

    @property
    def messages(self) -> list[tuple[str, list[str], bytes]]:
        with self.handler.lock:
            return list(self.handler.messages)
