"""The reference's lists, row by row: every property, method and event exists on smtpx.SMTP
under its snake_case name, every event fires with its dataclass in a real session, and every
property and method is exercised by a behaviour test in this folder."""
from __future__ import annotations

import pathlib
import re

import pytest

import smtpx
from smtpx import events as ev
from smtpx.enums import SSLStartMode

from facade.scripted import ScriptedServer

SPEC = pathlib.Path("/work/shared/spec/smtp-class-reference.txt")
HERE = pathlib.Path(__file__).parent


def _section(title: str, end: str) -> list[str]:
    text = SPEC.read_text(encoding="utf-8")
    body = text.split(f"\n{title}\n", 1)[1].split(f"\n{end}\n", 1)[0]
    return [line.split(" | ", 1)[0].strip() for line in body.splitlines() if " | " in line]


def snake(name: str) -> str:
    special = {"From": "from_", "BCc": "bcc"}
    if name in special:
        return special[name]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


if SPEC.exists():
    PROPERTIES = _section("Property List", "Method List")
    METHODS = _section("Method List", "Event List")
    EVENTS = _section("Event List", "Config Settings")
else:  # pragma: no cover - the spec lives outside the repository
    PROPERTIES = METHODS = EVENTS = []

TEST_SOURCE = "\n".join(p.read_text(encoding="utf-8") for p in HERE.glob("test_*.py") if p.name != pathlib.Path(__file__).name)


@pytest.mark.skipif(not SPEC.exists(), reason="the class reference is not on this machine")
def test_the_lists_were_read():
    assert len(PROPERTIES) == 38 and len(METHODS) == 17 and len(EVENTS) == 9


@pytest.mark.parametrize("name", PROPERTIES)
def test_property_exists_and_has_a_behaviour_test(name):
    attr = snake(name)
    assert isinstance(getattr(smtpx.SMTP, attr, None), property), f"SMTP.{attr} is missing"
    assert re.search(rf"\b{attr}\b", TEST_SOURCE), f"no facade test uses {attr}"


@pytest.mark.parametrize("name", METHODS)
def test_method_exists_and_has_a_behaviour_test(name):
    attr = snake(name)
    assert callable(getattr(smtpx.SMTP, attr, None)), f"SMTP.{attr}() is missing"
    assert re.search(rf"\.{attr}\(", TEST_SOURCE) or re.search(rf'"{attr}"', TEST_SOURCE), f"no facade test calls {attr}()"


def _tls_session(tls, make_smtp, handlers):
    ctx, ca_pem = tls
    with ScriptedServer(tls_context=ctx) as srv:
        srv.reply("RCPT", "550 5.1.1 no such user", when="ghost@")
        srv.expansions["team"] = ["a@example.com", "b@example.com"]
        smtp = make_smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT, bcc="ghost@example.com", **handlers)
        smtp.config("SSLServerCACerts=" + ca_pem)
        smtp.connect()
        smtp.send()
        smtp.expand("team")
        smtp.disconnect()


EVENT_CHECKS = {
    "ConnectionStatus": (ev.ConnectionStatusEvent,
                         lambda es: [e.connection_event for e in es] == [
                             "Remote host connection complete", "SSL handshake complete", "Remote host disconnected"]),
    "EndTransfer": (ev.EndTransferEvent, lambda es: len(es) == 1 and es[0].direction == 0),
    "Error": (ev.ErrorEvent, lambda es: len(es) == 1 and "ghost@example.com" in es[0].description and es[0].error_code),
    "Expand": (ev.ExpandEvent, lambda es: [e.address for e in es] == ["a@example.com", "b@example.com"]),
    "PITrail": (ev.PITrailEvent, lambda es: {e.direction for e in es} == {0, 1}
                and any(e.message == "STARTTLS" for e in es)),
    "SSLServerAuthentication": (ev.SSLServerAuthenticationEvent,
                                lambda es: len(es) == 1 and es[0].accept and es[0].cert_subject != ""),
    "SSLStatus": (ev.SSLStatusEvent, lambda es: len(es) >= 1 and all(e.message for e in es)),
    "StartTransfer": (ev.StartTransferEvent, lambda es: len(es) == 1 and es[0].direction == 0),
    "Transfer": (ev.TransferEvent, lambda es: es and es[-1].percent_done == 100 and es[-1].bytes_transferred > 0),
}


@pytest.mark.parametrize("name", EVENTS)
def test_event_fires_with_its_dataclass(name, tls, make_smtp):
    attr = "on_" + snake(name)
    assert attr in ev.EVENT_NAMES and hasattr(smtpx.SMTP(), attr)
    kind, check = EVENT_CHECKS[name]
    fired = []
    _tls_session(tls, make_smtp, {attr: fired.append})
    assert fired and all(isinstance(e, kind) for e in fired)
    assert check(fired), fired
