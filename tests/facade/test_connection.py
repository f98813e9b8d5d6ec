"""connect / disconnect / with, the connection properties and their errors, timeouts,
interrupt(), busy re-entrance, against real servers on 127.0.0.1."""
from __future__ import annotations

import socket
import threading

import pytest

import smtpx
from smtpx.enums import SSLStartMode
from smtpx.session import effective_start_mode

from tests.servers.scripted import RawServer


def test_connect_greets_with_ehlo_and_disconnect_quits(server, make_smtp):
    statuses = []
    smtp = make_smtp(server, on_connection_status=lambda e: statuses.append(e.connection_event))
    assert not smtp.connected
    smtp.connect()
    assert smtp.connected and smtp.idle
    assert server.verbs() == ["EHLO"]
    assert smtp.last_reply.endswith("250 HELP")
    smtp.disconnect()
    assert not smtp.connected
    assert server.verbs() == ["EHLO", "QUIT"]
    assert smtp.last_reply.startswith("221")
    assert statuses == ["Remote host connection complete", "Remote host disconnected"]


def test_disconnect_when_not_connected_does_nothing(server, make_smtp):
    smtp = make_smtp(server)
    smtp.disconnect()
    assert server.commands == [] and not smtp.connected


def test_connect_twice_is_error_104(server, make_smtp):
    smtp = make_smtp(server)
    smtp.connect()
    with pytest.raises(smtpx.SMTPError) as info:
        smtp.connect()
    assert info.value.code == 104
    assert smtp.connected  # the first connection is untouched
    assert server.verbs() == ["EHLO"]


def test_hello_config_names_the_client(server, make_smtp):
    smtp = make_smtp(server)
    smtp.config("Hello=client.example.org")
    smtp.connect()
    assert server.commands[0] == "EHLO client.example.org"


def test_hello_with_control_characters_is_refused(make_smtp, server):
    smtp = make_smtp(server)
    with pytest.raises(smtpx.SMTPConfigError):
        smtp.config("Hello=evil\r\nMAIL FROM:<x@y>")
    assert server.commands == []


def test_allow_extensions_false_sends_helo(server, make_smtp):
    smtp = make_smtp(server, allow_extensions=False)
    smtp.connect()
    assert server.verbs() == ["HELO"]


def test_helo_fallback_when_ehlo_refused(server, make_smtp):
    server.reply("EHLO", "502 5.5.1 no ESMTP here")
    smtp = make_smtp(server)
    smtp.connect()
    assert server.verbs() == ["EHLO", "HELO"]
    assert smtp.connected


def test_with_statement_connects_and_disconnects(server):
    with smtpx.SMTP(mail_server=server.host, mail_port=server.port) as smtp:
        assert smtp.connected
        assert server.verbs() == ["EHLO"]
    assert not smtp.connected
    assert server.verbs() == ["EHLO", "QUIT"]


def test_with_statement_disconnects_after_an_exception(server):
    with pytest.raises(RuntimeError):
        with smtpx.SMTP(mail_server=server.host, mail_port=server.port) as smtp:
            raise RuntimeError("user code failed")
    assert not smtp.connected
    assert server.verbs()[-1] == "QUIT"


def test_constructor_keywords_set_properties_and_handlers():
    seen = []
    smtp = smtpx.SMTP(mail_server="mx.example", mail_port=2525, timeout=5, user="ann", subject="Hi",
                      on_error=seen.append)
    assert (smtp.mail_server, smtp.mail_port, smtp.timeout, smtp.user, smtp.subject) == ("mx.example", 2525, 5, "ann", "Hi")
    assert smtp.on_error == seen.append


def test_constructor_refuses_unknown_and_read_only_names():
    with pytest.raises(smtpx.SMTPInputError, match="nonsense"):
        smtpx.SMTP(nonsense=1)
    with pytest.raises(smtpx.SMTPInputError, match="connected"):
        smtpx.SMTP(connected=True)


def test_no_mail_server_is_error_163():
    smtp = smtpx.SMTP()
    with pytest.raises(smtpx.SMTPError) as info:
        smtp.connect()
    assert info.value.code == 163
    assert smtp.idle and not smtp.connected


@pytest.mark.parametrize(
    "prop, value, code",
    [("mail_server", "other.example", 101), ("mail_port", 2525, 100), ("local_host", "127.0.0.1", 107)],
)
def test_connection_properties_locked_while_connected(server, make_smtp, prop, value, code):
    smtp = make_smtp(server)
    smtp.connect()
    before = getattr(smtp, prop)
    with pytest.raises(smtpx.SMTPError) as info:
        setattr(smtp, prop, value)
    assert info.value.code == code
    assert getattr(smtp, prop) == before
    smtp.disconnect()
    setattr(smtp, prop, value)  # allowed again once disconnected
    assert smtp._local_host == value if prop == "local_host" else getattr(smtp, prop) == value


def test_local_port_config_locked_while_connected(server, make_smtp):
    smtp = make_smtp(server)
    smtp.connect()
    with pytest.raises(smtpx.SMTPError) as info:
        smtp.config("LocalPort=40000")
    assert info.value.code == 106


@pytest.mark.parametrize("bad, code", [(0, 116), (70000, None), (-1, None), ("25", None), (True, None)])
def test_mail_port_validation(bad, code):
    smtp = smtpx.SMTP()
    with pytest.raises(smtpx.SMTPInputError) as info:
        smtp.mail_port = bad
    if code is not None:
        assert info.value.code == code
    assert smtp.mail_port == 25


@pytest.mark.parametrize("prop", ["mail_server", "user", "local_host"])
def test_text_properties_refuse_control_characters(prop):
    smtp = smtpx.SMTP()
    with pytest.raises(smtpx.SMTPInputError):
        setattr(smtp, prop, "a\r\nb")
    assert getattr(smtp, prop) == ""


def test_local_host_binds_and_shows_the_address_in_use(server, make_smtp):
    smtp = make_smtp(server, local_host="127.0.0.1")
    smtp.connect()
    assert smtp.local_host == "127.0.0.1"
    smtp.disconnect()
    assert smtp.local_host == "127.0.0.1"


def test_local_host_that_is_not_ours_fails_to_bind(server, make_smtp):
    smtp = make_smtp(server, local_host="192.0.2.55")  # TEST-NET-1: never a local address
    with pytest.raises(smtpx.SMTPError):
        smtp.connect()
    assert not smtp.connected and server.commands == []


def test_connection_refused_is_typed_and_object_stays_usable(server, make_smtp):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    closed_port = sock.getsockname()[1]
    sock.close()
    smtp = smtpx.SMTP(mail_server="127.0.0.1", mail_port=closed_port)
    with pytest.raises(smtpx.SMTPConnectError) as info:
        smtp.connect()
    assert info.value.code == 10061
    assert not smtp.connected and smtp.idle
    smtp.mail_port = server.port
    smtp.connect()
    assert smtp.connected
    smtp.disconnect()


def test_firewall_property_routes_through_the_proxy(server, make_smtp):
    from smtpx.enums import FirewallType

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    dead_proxy = sock.getsockname()[1]
    sock.close()
    smtp = make_smtp(server)
    smtp.firewall = smtpx.Firewall(firewall_type=FirewallType.SOCKS5, host="127.0.0.1", port=dead_proxy)
    assert smtp.config("FirewallPort") == str(dead_proxy)  # the config view follows the property
    with pytest.raises(smtpx.SMTPFirewallError) as info:
        smtp.connect()
    assert info.value.code == 118
    assert server.commands == []  # nothing reached the mail server directly
    with pytest.raises(smtpx.SMTPInputError):
        smtp.firewall = "socks5://127.0.0.1"


def test_timeout_while_waiting_for_the_greeting():
    with RawServer([("expect", b"NEVER")]) as raw:  # accepts, never greets
        smtp = smtpx.SMTP(mail_server=raw.host, mail_port=raw.port, timeout=1)
        with pytest.raises(smtpx.SMTPTimeoutError) as info:
            smtp.connect()
        assert info.value.code == 301
        assert not smtp.connected and smtp.idle


def test_timeout_property_validation():
    smtp = smtpx.SMTP()
    for bad in (-1, 1.5, "60", None):
        with pytest.raises(smtpx.SMTPInputError):
            smtp.timeout = bad
    assert smtp.timeout == 60
    smtp.timeout = 0
    assert smtp.timeout == 0


def test_greeting_554_is_typed_and_leaves_nothing_open():
    with RawServer([("send", b"554 5.3.2 no service\r\n"), ("expect", b"QUIT"), ("send", b"221 bye\r\n")]) as raw:
        smtp = smtpx.SMTP(mail_server=raw.host, mail_port=raw.port, timeout=5)
        with pytest.raises(smtpx.SMTPReplyError) as info:
            smtp.connect()
        assert info.value.reply_code == 554
        assert not smtp.connected
        assert smtp.last_reply == "221 bye"  # RFC 5321 3.1: after a 554 greeting the client QUITs
    assert b"QUIT\r\n" in bytes(raw.received) and not raw.errors


def test_interrupt_from_another_thread_aborts_with_301_and_object_stays_usable(server):
    # The raw peer greets and answers EHLO, then never answers NOOP.
    script = [("send", b"220 raw\r\n"), ("expect", b"EHLO"), ("send", b"250 raw\r\n"), ("expect", b"NOOP")]
    with RawServer(script) as raw:
        smtp = smtpx.SMTP(mail_server=raw.host, mail_port=raw.port, timeout=30)
        smtp.connect()

        def interrupt_once_sent(event):
            if event.direction == 0 and event.message == "NOOP":
                threading.Timer(0.2, smtp.interrupt).start()

        smtp.on_pi_trail = interrupt_once_sent
        with pytest.raises(smtpx.SMTPInterrupted) as info:
            smtp.send_command("NOOP")
        assert info.value.code == 301
        assert not smtp.connected and smtp.idle
    # Still usable: the next method works against a good server.
    smtp.on_pi_trail = None
    smtp.mail_port = server.port
    assert smtp.verify("someone@example.com").code == 250
    assert server.verbs() == ["EHLO", "VRFY", "QUIT"]


def test_interrupt_when_idle_does_nothing(server, make_smtp):
    smtp = make_smtp(server)
    smtp.interrupt()
    smtp.connect()
    assert smtp.send_command("NOOP").code == 250


def test_busy_reentrance_from_an_event_handler_is_166(server, make_smtp):
    caught = []

    def reenter(event):
        if event.direction == 0 and not caught:
            try:
                smtp.send_command("NOOP")
            except smtpx.SMTPBusyError as exc:
                caught.append(exc)
            assert not smtp.idle

    smtp = make_smtp(server)
    smtp.on_pi_trail = reenter
    smtp.connect()
    assert caught and caught[0].code == 166
    assert smtp.idle and server.verbs() == ["EHLO"]


def test_busy_from_another_thread_is_166():
    script = [("send", b"220 raw\r\n"), ("expect", b"EHLO"), ("send", b"250 raw\r\n"), ("expect", b"NOOP"),
              ("expect", b"QUIT")]
    with RawServer(script) as raw:
        smtp = smtpx.SMTP(mail_server=raw.host, mail_port=raw.port, timeout=30)
        smtp.connect()
        sent = threading.Event()
        smtp.on_pi_trail = lambda e: sent.set() if e.message == "NOOP" else None
        errors = []

        def blocked_noop():
            try:
                smtp.send_command("NOOP")
            except smtpx.SMTPError as exc:
                errors.append(exc)

        worker = threading.Thread(target=blocked_noop)
        worker.start()
        assert sent.wait(10)
        assert not smtp.idle
        with pytest.raises(smtpx.SMTPBusyError) as info:
            smtp.verify("x@example.com")
        assert info.value.code == 166
        smtp.interrupt()
        worker.join(10)
        assert smtp.idle and not smtp.connected
        assert len(errors) == 1 and isinstance(errors[0], smtpx.SMTPInterrupted)


def test_do_events_from_an_event_handler_is_allowed(server, make_smtp):
    calls = []

    def pump(event):
        smtp.do_events()  # the reference's use: keep an application responsive during a transfer
        calls.append(event)

    smtp = make_smtp(server, on_transfer=pump)
    smtp.send()
    assert calls and len(server.messages) == 1


def test_do_events_returns_and_keeps_state(server, make_smtp):
    smtp = make_smtp(server)
    smtp.do_events()
    assert not smtp.connected
    smtp.connect()
    smtp.do_events()
    assert smtp.connected and server.verbs() == ["EHLO"]


@pytest.mark.parametrize(
    "mode, port, expected",
    [
        (SSLStartMode.AUTOMATIC, 25, SSLStartMode.EXPLICIT),
        (SSLStartMode.AUTOMATIC, 587, SSLStartMode.EXPLICIT),
        (SSLStartMode.AUTOMATIC, 465, SSLStartMode.IMPLICIT),
        (SSLStartMode.AUTOMATIC, 2525, SSLStartMode.IMPLICIT),
        (SSLStartMode.EXPLICIT, 465, SSLStartMode.EXPLICIT),
        (SSLStartMode.IMPLICIT, 25, SSLStartMode.IMPLICIT),
        (SSLStartMode.NONE, 465, SSLStartMode.NONE),
    ],
)
def test_start_mode_table(mode, port, expected):
    assert effective_start_mode(mode, port) == expected


def test_ssl_enabled_follows_ssl_start_mode():
    smtp = smtpx.SMTP()
    assert smtp.ssl_start_mode == SSLStartMode.NONE and smtp.ssl_enabled is False
    smtp.ssl_start_mode = SSLStartMode.EXPLICIT
    assert smtp.ssl_enabled is True
    smtp.ssl_enabled = False
    assert smtp.ssl_start_mode == SSLStartMode.NONE
    smtp.ssl_enabled = True
    assert smtp.ssl_start_mode == SSLStartMode.AUTOMATIC
    with pytest.raises(smtpx.SMTPInputError):
        smtp.ssl_start_mode = 7


def test_starttls_missing_when_required_sends_nothing_more(server, make_smtp):
    smtp = make_smtp(server, ssl_start_mode=SSLStartMode.EXPLICIT)  # plain server: no STARTTLS offered
    with pytest.raises(smtpx.SMTPTLSError):
        smtp.connect()
    assert server.verbs() == ["EHLO"]
    assert not smtp.connected


@pytest.mark.parametrize("absolute", [False, True])
def test_absolute_timeout_config_bounds_the_whole_method(absolute):
    # A server that trickles a multi-line greeting: never idle for a whole second, but slow.
    trickle = [step for _ in range(8) for step in (("send", b"220-still greeting\r\n"), ("wait", 0.3))]
    script = trickle + [("send", b"220 done\r\n"), ("expect", b"EHLO"), ("send", b"250 ok\r\n"), ("expect", b"QUIT"),
                        ("send", b"221 bye\r\n")]
    with RawServer(script) as raw:
        smtp = smtpx.SMTP(mail_server=raw.host, mail_port=raw.port, timeout=1)
        smtp.config(f"AbsoluteTimeout={absolute}")
        if absolute:
            with pytest.raises(smtpx.SMTPTimeoutError):
                smtp.connect()
            assert not smtp.connected
        else:
            smtp.connect()  # inactivity timeout: each line restarts the clock
            assert smtp.connected
            smtp.disconnect()


def test_greeting_421_ends_cleanly_without_sending_anything():
    with RawServer([("send", b"421 4.3.2 busy, try later\r\n")]) as raw:  # then records until we close
        smtp = smtpx.SMTP(mail_server=raw.host, mail_port=raw.port, timeout=5)
        with pytest.raises(smtpx.SMTPServiceClosing) as info:
            smtp.connect()
        assert info.value.reply_code == 421
        assert not smtp.connected and smtp.idle
        assert smtp.last_reply == "421 4.3.2 busy, try later"
    assert bytes(raw.received) == b""


def test_an_interrupt_that_comes_too_late_drops_the_connection_and_nothing_else(server, make_smtp):
    smtp = make_smtp(server)
    smtp.connect()
    # Interrupt from the handler of the very last event of the method: nothing is left to abort.
    smtp.on_pi_trail = lambda e: smtp.interrupt() if e.message == "250 OK" else None
    assert smtp.send_command("NOOP").code == 250
    assert not smtp.connected and smtp.idle  # the stream it reached cannot be used again
    smtp.on_pi_trail = None
    assert smtp.send().accepted  # the object reconnects as usual
