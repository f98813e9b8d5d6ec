"""`python -m smtpx send` and `python -m smtpx demo` as subprocesses, against real servers (moved here from
tests/facade/test_cli.py unchanged)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys


from tests.servers.scripted import ScriptedServer


def _run(*args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.pop("SMTPX_PASSWORD", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "smtpx", *args], capture_output=True, text=True,
                          timeout=60, env=full_env, input=stdin)


def _send_args(srv, *extra: str) -> list[str]:
    return ["send", "--server", srv.host, "--port", str(srv.port), "--from", "Ann <ann@example.com>", *extra]


def test_send_delivers_and_traces(server):
    done = _run(*_send_args(server, "--to", "bob@example.com", "--cc", "cy@example.com", "--bcc", "dee@example.com",
                            "--subject", "Grüße", "--body", ".starts with a dot\nsecond line", "--trace"))
    assert done.returncode == 0, done.stderr
    assert "sent to bob@example.com, cy@example.com, dee@example.com" in done.stdout
    assert "C: MAIL FROM:<ann@example.com>" in done.stderr and "S: 221 Bye" in done.stderr
    got = server.messages[0]
    assert got.rcpt_tos == ["bob@example.com", "cy@example.com", "dee@example.com"]
    assert b"Subject: =?utf-8?b?R3LDvMOfZQ==?=\r\n" in got.data
    assert got.data.endswith(b"\r\n\r\n.starts with a dot\r\nsecond line\r\n")
    assert b"dee@example.com" not in got.data


def test_send_body_from_file_and_stdin(server, tmp_path):
    body = tmp_path / "body.txt"
    body.write_text("from a file\n", encoding="utf-8")
    assert _run(*_send_args(server, "--to", "b@example.com", "--body-file", str(body))).returncode == 0
    assert _run(*_send_args(server, "--to", "b@example.com", "--body-file", "-"), stdin="from stdin\n").returncode == 0
    assert server.messages[0].data.endswith(b"\r\n\r\nfrom a file\r\n")
    assert server.messages[1].data.endswith(b"\r\n\r\nfrom stdin\r\n")


def test_send_with_password_from_the_environment(server):
    server.users["ann"] = "s3cret"
    done = _run(*_send_args(server, "--to", "b@example.com", "--user", "ann", "--password-env", "MY_PW",
                            "--allow-plaintext-auth", "--auth", "plain", "--trace"), env={"MY_PW": "s3cret"})
    assert done.returncode == 0, done.stderr
    assert server.auth_log == [("PLAIN", "ann")]
    assert "s3cret" not in done.stderr and "AGFubgBzM2NyZXQ=" not in done.stderr  # masked in the trace


def test_send_with_an_empty_password_variable_is_refused(server):
    done = _run(*_send_args(server, "--to", "b@example.com", "--user", "ann"))
    assert done.returncode == 3
    assert "SMTPX_PASSWORD" in done.stderr
    assert server.commands == []


def test_send_connection_refused_exit_4():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    done = _run("send", "--server", "127.0.0.1", "--port", str(port), "--from", "a@example.com", "--to", "b@example.com")
    assert done.returncode == 4
    assert "smtpx: error [10061]" in done.stderr


def test_send_refused_recipient_exit_7(server):
    server.reply("RCPT", "550 5.1.1 no such user")
    done = _run(*_send_args(server, "--to", "nobody@example.com"))
    assert done.returncode == 7
    assert "550" in done.stderr
    assert server.messages == []


def test_send_refused_bcc_exit_1(server):
    server.reply("RCPT", "550 5.1.1 no such user", when="ghost@")
    done = _run(*_send_args(server, "--to", "b@example.com", "--bcc", "ghost@example.com"))
    assert done.returncode == 1
    assert "refused ghost@example.com" in done.stderr
    assert server.messages[0].rcpt_tos == ["b@example.com"]


def test_send_bad_address_exit_3(server):
    done = _run(*_send_args(server, "--to", "a@b@c"))
    assert done.returncode == 3
    assert server.commands == []


def test_send_starttls_with_a_ca_file(tls, tmp_path):
    ctx, ca_pem = tls
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(ca_pem)
    with ScriptedServer(tls_context=ctx, require_starttls=True) as srv:
        ok = _run(*_send_args(srv, "--to", "b@example.com", "--tls", "starttls", "--ca-file", str(ca_file)))
        assert ok.returncode == 0, ok.stderr
        refused = _run(*_send_args(srv, "--to", "b@example.com", "--tls", "starttls"))  # CA not trusted
        assert refused.returncode == 5
        assert "[280]" in refused.stderr
        assert len(srv.messages) == 1


def test_help_documents_the_exit_codes():
    done = _run("send", "--help")
    assert done.returncode == 0
    assert "exit codes:" in done.stdout and "--password-env" in done.stdout and "--trace" in done.stdout


def test_usage_errors_exit_2():
    assert _run("send", "--from", "a@example.com").returncode == 2  # no --server
    assert _run().returncode == 2


def test_demo_prints_the_trace_and_the_received_message():
    done = _run("demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "C: EHLO" in out and "S: 250" in out and "C: QUIT" in out
    assert "\n..This line starts with a dot" in out  # stuffed on the wire
    received = out.split("--- the message as the sink received it ---")[1]
    assert "\n.This line starts with a dot" in received and "\n..This line" not in received
    assert "Subject: =?utf-8?" in received
    assert "decodes back to: Grüße from smtpx" in received


def test_demo_without_aiosmtpd_names_the_extra():
    code = ("import sys; sys.modules['aiosmtpd'] = None\n"
            "from smtpx.cli.main import main\n"
            "sys.exit(main(['demo']))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 10
    assert "pip install smtpx[demo]" in done.stderr


def test_send_xoauth2_token_from_the_environment(server):
    server.users["ann@example.com"] = "ya29.token"
    done = _run(*_send_args(server, "--to", "b@example.com", "--user", "ann@example.com", "--auth", "xoauth2",
                            "--allow-plaintext-auth"), env={"SMTPX_PASSWORD": "ya29.token"})
    assert done.returncode == 0, done.stderr
    assert server.auth_log == [("XOAUTH2", "ann@example.com")]


def test_send_user_without_tls_names_the_command_line_flags(server):
    server.users["ann"] = "s3cret"
    done = _run(*_send_args(server, "--to", "b@example.com", "--user", "ann"), env={"SMTPX_PASSWORD": "s3cret"})
    assert done.returncode == 6  # authentication refused (before anything was sent)
    assert "--tls starttls" in done.stderr and "--allow-plaintext-auth" in done.stderr
    assert "AllowPlaintextAuth" not in done.stderr  # the config key means nothing on the command line
    assert "s3cret" not in done.stderr
    assert server.auth_log == [] and server.messages == []
