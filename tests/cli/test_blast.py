"""``smtpx blast`` against real servers: exactly COUNT messages arrive (counted on the server),
each SIZE bytes, and the summary has its fields; without a terminal nothing else is printed."""
from __future__ import annotations

import re
import socket

import pytest

from tests.cli.helpers import parsed, run, server_args

FIELDS = ("sent", "failed", "elapsed", "msgs/s", "bytes/s", "time per message")


def _summary(out: str) -> dict[str, str]:
    lines = out.splitlines()
    assert lines[0].startswith("blast: ")
    fields = dict(line.split(":", 1) for line in lines[1:])
    assert tuple(fields) == FIELDS, out
    return {name: value.strip() for name, value in fields.items()}


def test_blast_sends_exactly_count_messages_of_size(server, capsys):
    code, out, err = run(capsys, "blast", *server_args(server), "-m", "37", "-c", "3", "-s", "700",
                         "--from", "load@example.com", "--to", "sink1@example.com", "--to", "sink2@example.com")
    assert code == 0, err
    assert err == ""  # no progress bar off a terminal
    fields = _summary(out)
    assert fields["sent"] == "37" and fields["failed"] == "0"
    assert re.fullmatch(r"\d+\.\d{3} s", fields["elapsed"])
    assert re.fullmatch(r"\d+\.\d", fields["msgs/s"]) and float(fields["msgs/s"]) > 0
    assert int(fields["bytes/s"].replace(",", "")) > 0
    assert re.fullmatch(r"\d+\.\d{3} ms", fields["time per message"])
    assert out.splitlines()[0] == "blast: 37 messages of 700 bytes to 127.0.0.1 over 3 connection(s)"
    assert len(server.messages) == 37
    assert all(len(m.data) == 700 for m in server.messages)
    assert all(m.mail_from == "load@example.com" for m in server.messages)
    assert all(m.rcpt_tos == ["sink1@example.com", "sink2@example.com"] for m in server.messages)
    ids = {parsed(m.data)["Message-ID"] for m in server.messages}
    assert len(ids) == 37
    assert sorted(parsed(m.data)["Subject"] for m in server.messages) == sorted(f"smtpx blast {n}" for n in range(1, 38))
    assert 1 <= sum(c.startswith("EHLO") for c in server.commands) <= 3


def test_blast_smaller_than_the_headers_sends_the_headers(server, capsys):
    code, out, _ = run(capsys, "blast", *server_args(server), "-m", "2", "-s", "10")
    assert code == 0
    assert _summary(out)["sent"] == "2"
    assert all(m.data.endswith(b"\r\n\r\n") and len(m.data) > 10 for m in server.messages)


def test_blast_refused_messages_are_counted_and_exit_non_zero(server, capsys):
    server.reply("RCPT", "550 5.7.1 relaying denied", times=None)
    code, out, err = run(capsys, "blast", *server_args(server), "-m", "5", "-c", "2")
    assert code == 7  # nothing went: why
    fields = _summary(out)
    assert fields["sent"] == "0" and fields["failed"] == "5"
    assert "5 failed with [" in err and "relaying denied" in err
    assert server.messages == []


def test_blast_partly_refused_exits_1(server, capsys):
    server.reply("RCPT", "550 5.1.1 no", times=2)
    code, out, _ = run(capsys, "blast", *server_args(server), "-m", "6")
    assert code == 1
    fields = _summary(out)
    assert fields["sent"] == "4" and fields["failed"] == "2"
    assert len(server.messages) == 4


def test_blast_to_a_closed_port_exits_4(capsys):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    code, out, _ = run(capsys, "blast", "--server", f"127.0.0.1:{port}", "-m", "3", "-c", "2")
    assert code == 4
    assert _summary(out)["failed"] == "3"


@pytest.mark.parametrize("argv, flag", [
    (["-m", "0"], "argument -m/--count:"),
    (["-m", "3", "-c", "none"], "argument -c/--connections:"),
    (["-m", "3", "-s", "-5"], "argument -s/--size:"),
    ([], "-m/--count"),
])
def test_blast_bad_flags_exit_2(server, capsys, argv, flag):
    code, _, err = run(capsys, "blast", *server_args(server), *argv)
    assert code == 2 and flag in err
    assert server.commands == []


def test_blast_bad_address_exits_3_before_connecting(server, capsys):
    code, out, err = run(capsys, "blast", *server_args(server), "-m", "3", "--to", "a@b@c")
    assert code == 3 and out == ""
    assert server.commands == []


@pytest.mark.postfix
def test_blast_to_smtp_sink(smtp_sink, capsys):
    code, out, err = run(capsys, "blast", "--server", f"{smtp_sink.host}:{smtp_sink.port}", "-m", "400", "-c", "4",
                         "-s", "2048")
    assert code == 0, err
    assert _summary(out)["sent"] == "400"
    dump = smtp_sink.dump_text()
    assert len(re.findall(r"^Subject: smtpx blast \d+\r?$", dump, re.M)) == 400
    for n in (1, 200, 400):
        assert len(re.findall(rf"^Subject: smtpx blast {n}\r?$", dump, re.M)) == 1
