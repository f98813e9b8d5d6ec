"""Helpers for the asyncio tests: run a coroutine on a fresh loop with a safety net."""
from __future__ import annotations

import asyncio
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
