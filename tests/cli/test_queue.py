"""``smtpx queue add`` and ``smtpx queue run`` in-process against the real aiosmtpd server: the
files are the library's own queue files, the run empties the folder, a refused message is left
``*.failed`` with a non-zero exit, and nothing but the summary is printed without a terminal."""
from __future__ import annotations

import os
import socket

from tests.cli.helpers import parsed, run, server_args


def _add(capsys, folder, *extra: str) -> str:
    code, out, err = run(capsys, "queue", "add", str(folder), "--from", "Ann <ann@example.com>", *extra)
    assert code == 0, err
    path = out.strip()
    assert os.path.dirname(path) == str(folder) and path.endswith(".queued") and os.path.isfile(path)
    return path


def test_queue_add_then_run_delivers_and_empties_the_folder(server, capsys, tmp_path):
    folder = tmp_path / "q"
    folder.mkdir()
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(5000))
    for n in range(3):
        _add(capsys, folder, "--to", f"r{n}@example.com", "--subject", f"queued {n}", "--body", "hello",
             "--attach", str(payload), "--header", f"X-Seq: {n}")
    assert server.commands == []  # queue add never connects
    code, out, err = run(capsys, "queue", "run", str(folder), *server_args(server))
    assert code == 0, err
    assert out == "queue run: 3 sent, 0 failed, 0 recovered\n"
    assert err == ""  # no progress bar, no hint: stderr is not a terminal
    assert os.listdir(folder) == []
    assert sorted(m.rcpt_tos[0] for m in server.messages) == ["r0@example.com", "r1@example.com", "r2@example.com"]
    for got in server.messages:
        msg = parsed(got.data)
        assert msg["Subject"] == f"queued {msg['X-Seq']}"
        assert next(msg.iter_attachments()).get_payload(decode=True) == payload.read_bytes()


def test_queue_run_with_a_refused_message_exits_1_and_leaves_it_failed(server, capsys, tmp_path):
    for name in ("good1", "bad", "good2"):
        _add(capsys, tmp_path, "--to", f"{name}@example.com", "--body", name)
    server.reply("RCPT", "550 5.1.1 no such user", when="bad@")
    code, out, err = run(capsys, "queue", "run", str(tmp_path), *server_args(server))
    assert code == 1
    assert out == "queue run: 2 sent, 1 failed, 0 recovered\n"
    left = os.listdir(tmp_path)
    assert len(left) == 1 and left[0].endswith(".failed")
    assert f"smtpx: failed {left[0]}" in err and "550" in err
    assert sorted(m.rcpt_tos[0] for m in server.messages) == ["good1@example.com", "good2@example.com"]


def test_queue_run_over_several_connections_sends_each_file_once(server, capsys, tmp_path):
    for n in range(12):
        _add(capsys, tmp_path, "--to", f"r{n}@example.com", "--subject", f"s{n}")
    code, out, err = run(capsys, "queue", "run", str(tmp_path), *server_args(server), "--connections", "3")
    assert code == 0, err
    assert out == "queue run: 12 sent, 0 failed, 0 recovered\n"
    assert sorted(parsed(m.data)["Subject"] for m in server.messages) == sorted(f"s{n}" for n in range(12))
    assert os.listdir(tmp_path) == []
    assert 1 <= sum(c.startswith("EHLO") for c in server.commands) <= 3


def test_queue_add_to_a_missing_folder_exits_3(capsys, tmp_path):
    code, out, err = run(capsys, "queue", "add", str(tmp_path / "nope"), "--from", "a@example.com",
                         "--to", "b@example.com")
    assert code == 3 and out == ""
    assert "does not exist" in err
    assert not (tmp_path / "nope").exists()


def test_queue_add_bad_header_exits_2_and_writes_nothing(capsys, tmp_path):
    code, _, err = run(capsys, "queue", "add", str(tmp_path), "--from", "a@example.com", "--to", "b@example.com",
                       "--header", "X-A: 1\r\nX-B: 2")
    assert code == 2 and "argument --header:" in err
    assert os.listdir(tmp_path) == []


def test_queue_run_without_a_server_keeps_the_files(capsys, tmp_path):
    _add(capsys, tmp_path, "--to", "b@example.com")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    code, _, err = run(capsys, "queue", "run", str(tmp_path), "--server", f"127.0.0.1:{port}")
    assert code == 4 and "[10061]" in err
    assert [name.endswith((".queued", ".sending")) for name in os.listdir(tmp_path)] == [True]


def test_queue_run_bad_connections_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "queue", "run", str(tmp_path), "--server", "127.0.0.1", "--connections", "0")
    assert code == 2 and "argument --connections/-c:" in err
