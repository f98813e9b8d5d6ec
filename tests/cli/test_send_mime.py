"""``smtpx send`` with --attach, --html, --header and --version, run in-process through main(argv)
against the real aiosmtpd server; what the server stored is parsed back with the stdlib."""
from __future__ import annotations

import os

import pytest

import smtpx
from tests.cli.helpers import parsed, run, server_args, text_of
from tests.servers.scripted import ScriptedServer

FROM = ["--from", "Ann <ann@example.com>"]


def test_attachments_decode_byte_exact_with_guessed_types(server, capsys, tmp_path):
    binary = tmp_path / "all-bytes.bin"
    binary.write_bytes(bytes(range(256)) * 41 + b"\r\n.\r\n\x00")  # every octet, a lone dot line, CRs
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + os.urandom(3000))
    notes = tmp_path / "notes.txt"
    notes.write_bytes("Grüße\r\nline two without end".encode("utf-8"))
    odd = tmp_path / "data.unknownext"
    odd.write_bytes(b"\xff\xfe")
    code, out, err = run(capsys, "send", *server_args(server), *FROM, "--to", "bob@example.com",
                         "--subject", "files", "--body", "see the files",
                         "--attach", str(binary), "--attach", str(pdf), "--attach", str(notes), "--attach", str(odd))
    assert code == 0, err
    assert out == "sent to bob@example.com\n"
    msg = parsed(server.messages[0].data)
    assert msg.get_content_type() == "multipart/mixed"
    assert text_of(msg.get_body(("plain",))) == "see the files\n"
    got = {part.get_filename(): part for part in msg.iter_attachments()}
    assert list(got) == ["all-bytes.bin", "report.pdf", "notes.txt", "data.unknownext"]
    assert got["all-bytes.bin"].get_content_type() == "application/octet-stream"
    assert got["report.pdf"].get_content_type() == "application/pdf"
    assert got["notes.txt"].get_content_type() == "text/plain"
    assert got["data.unknownext"].get_content_type() == "application/octet-stream"
    for name, path in (("all-bytes.bin", binary), ("report.pdf", pdf), ("notes.txt", notes),
                       ("data.unknownext", odd)):
        assert got[name].get_payload(decode=True) == path.read_bytes(), name
    assert server.messages[0].data.isascii()  # base64 / quoted-printable: any server takes it
    assert b"MIME-Version" not in server.messages[0].data.split(b"\r\n\r\n", 1)[1]  # only at the top


def test_html_alternative_beside_the_text(server, capsys, tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<h1>Grüße</h1><p>from a file</p>\n", encoding="utf-8")
    assert run(capsys, "send", *server_args(server), *FROM, "--to", "b@example.com", "--body", "plain wörds",
               "--html", str(page))[0] == 0
    assert run(capsys, "send", *server_args(server), *FROM, "--to", "b@example.com", "--body", "text",
               "--html", "<b>inline</b>")[0] == 0
    first = parsed(server.messages[0].data)
    assert first.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in first.iter_parts()] == ["text/plain", "text/html"]
    assert text_of(first.get_body(("plain",))) == "plain wörds\n"
    assert text_of(first.get_body(("html",))) == "<h1>Grüße</h1><p>from a file</p>\n"
    assert text_of(parsed(server.messages[1].data).get_body(("html",))) == "<b>inline</b>\n"


def test_html_only_and_html_with_an_attachment(server, capsys, tmp_path):
    att = tmp_path / "a.csv"
    att.write_text("a,b\n1,2\n")
    assert run(capsys, "send", *server_args(server), *FROM, "--to", "b@example.com", "--html", "<p>only</p>")[0] == 0
    assert run(capsys, "send", *server_args(server), *FROM, "--to", "b@example.com", "--body", "t",
               "--html", "<p>h</p>", "--attach", str(att))[0] == 0
    only = parsed(server.messages[0].data)
    assert only.get_content_type() == "text/html" and text_of(only) == "<p>only</p>\n"
    mixed = parsed(server.messages[1].data)
    assert [p.get_content_type() for p in mixed.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/csv"]
    assert next(mixed.iter_attachments()).get_payload(decode=True) == b"a,b\n1,2\n"


def test_extra_headers_and_the_composed_ones(server, capsys):
    code, _, err = run(capsys, "send", *server_args(server), *FROM, "--to", "bob@example.com",
                       "--cc", "cy@example.com", "--bcc", "dee@example.com", "--subject", "Grüße",
                       "--body", "hi", "--html", "<p>hi</p>",
                       "--header", "X-Campaign: spring ünïcødé", "--header", "List-Unsubscribe: <mailto:u@example.com>",
                       "--header", "Message-ID: <fixed-1@example.com>", "--header", "Date: Mon, 1 Jun 2026 10:00:00 +0000")
    assert code == 0, err
    got = server.messages[0]
    assert got.rcpt_tos == ["bob@example.com", "cy@example.com", "dee@example.com"]
    assert b"dee@example.com" not in got.data  # Bcc: envelope only
    msg = parsed(got.data)
    assert msg["X-Campaign"] == "spring ünïcødé"
    assert msg["List-Unsubscribe"] == "<mailto:u@example.com>"
    assert msg.get_all("Message-ID") == ["<fixed-1@example.com>"]  # replaces the generated one
    assert len(msg.get_all("Date")) == 1 and b"\r\nDate: Mon, 1 Jun 2026 10:00:00 +0000\r\n" in got.data
    assert msg["Subject"] == "Grüße" and b"Subject: =?utf-8?b?R3LDvMOfZQ==?=\r\n" in got.data
    assert msg["To"] == "bob@example.com" and msg["Cc"] == "cy@example.com"
    assert msg.get_all("MIME-Version") == ["1.0"]
    assert text_of(msg.get_body(("html",))) == "<p>hi</p>\n"


def test_a_header_with_a_plain_body_keeps_the_text_as_before(server, capsys):
    assert run(capsys, "send", *server_args(server), *FROM, "--to", "b@example.com", "--body", ".dot\nend",
               "--header", "X-Tag: one")[0] == 0
    data = server.messages[0].data
    assert b"\r\nX-Tag: one\r\n" in data
    assert data.endswith(b"\r\n\r\n.dot\r\nend\r\n")
    assert b"Content-Type" not in data  # ASCII text: no MIME headers, as without --header


def test_non_ascii_addresses_ask_for_smtputf8(server, capsys):
    assert run(capsys, "send", *server_args(server), "--from", "ann@example.com", "--to", "jörg@exämple.de",
               "--body", "x", "--attach", __file__)[0] == 0
    got = server.messages[0]
    assert "SMTPUTF8" in got.mail_options
    assert got.rcpt_tos == ["jörg@exämple.de"]
    assert "To: jörg@exämple.de\r\n".encode() in got.data  # RFC 6532: the address as UTF-8


def test_non_ascii_address_to_a_server_without_smtputf8_sends_nothing(capsys):
    with ScriptedServer(smtputf8=False) as srv:
        code, _, err = run(capsys, "send", *server_args(srv), "--from", "ann@example.com", "--to", "jörg@exämple.de",
                           "--body", "x")
        assert code == 7
        assert "SMTPUTF8" in err
        assert not any(c.upper().startswith(("MAIL", "RCPT", "DATA")) for c in srv.commands)
        assert srv.messages == []


@pytest.mark.parametrize("value, says", [
    ("X-A: one\r\nBcc: evil@example.com", "contains CR"),
    ("X-A: one\nBcc: evil@example.com", "contains LF"),
    ("X-A: one\0", "contains NUL"),
    ("no colon here", "is not \"Name: value\""),
    ("Bad Name: x", "is not a header name"),
    ("Subject: sneaky", "--subject"),
    ("bcc: hidden@example.com", "--bcc"),
    ("Content-Type: text/html", "--body / --html / --attach"),
])
def test_bad_header_exits_2_naming_the_flag(server, capsys, value, says):
    code, out, err = run(capsys, "send", *server_args(server), *FROM, "--to", "b@example.com", "--header", value)
    assert code == 2
    assert "argument --header:" in err and says in err
    assert out == "" and server.commands == []


@pytest.mark.parametrize("argv, flag", [
    (["--server", "127.0.0.1:99999"], "argument --server:"),
    (["--server", "[::1"], "argument --server:"),
    (["--server", ":25"], "argument --server:"),
    (["--server", "127.0.0.1", "--port", "x"], "argument --port:"),
    (["--server", "127.0.0.1", "--tls", "sometimes"], "argument --tls:"),
])
def test_bad_connection_flags_exit_2(capsys, argv, flag):
    code, _, err = run(capsys, "send", *argv, *FROM, "--to", "b@example.com")
    assert code == 2 and flag in err


def test_server_port_twice_must_agree(server, capsys):
    code, _, err = run(capsys, "send", "--server", f"{server.host}:{server.port}", "--port", "2", *FROM,
                       "--to", "b@example.com")
    assert code == 2 and "--server" in err and "--port" in err
    assert run(capsys, "send", "--server", f"{server.host}:{server.port}", "--port", str(server.port), *FROM,
               "--to", "b@example.com")[0] == 0
    assert server.commands.count("QUIT") == 1


def test_unreadable_attachment_or_html_exit_3_naming_the_flag(server, capsys, tmp_path):
    code, _, err = run(capsys, "send", *server_args(server), *FROM, "--to", "b@example.com",
                       "--attach", str(tmp_path / "missing.pdf"))
    assert code == 3 and "--attach" in err and "missing.pdf" in err
    code, _, err = run(capsys, "send", *server_args(server), *FROM, "--to", "b@example.com", "--html", "page.html")
    assert code == 3 and "--html" in err
    assert server.commands == []


def test_version_in_process(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out == f"smtpx {smtpx.__version__}\n"
