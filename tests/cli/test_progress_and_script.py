"""The progress bar (only on a terminal: here a real pseudo-terminal) and the installed ``smtpx``
console script, as real subprocesses against the real aiosmtpd server."""
from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

import smtpx
from smtpx.cli.progress import progress
from tests.cli.helpers import parsed


def _script() -> list[str]:
    """The console script pip installed beside this interpreter, else ``python -m smtpx``."""
    script = Path(sys.executable).parent / "smtpx"
    return [str(script)] if script.exists() else [sys.executable, "-m", "smtpx"]


def _run_with_stderr_on_a_terminal(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run argv with stderr on a pseudo-terminal (100 columns), stdout on a pipe."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL,
                              timeout=60, env={**os.environ, **(env or {})})
    finally:
        os.close(slave)
        reader.join(10)
        os.close(master)
    return done.returncode, done.stdout.decode(), b"".join(chunks).decode("utf-8", "replace")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_only_on_a_terminal():
    pytest.importorskip("tqdm")
    screen = _Terminal()
    bar = progress(3, unit="msg", desc="work", stream=screen)
    assert bar.shown
    for _ in range(3):
        bar.advance()
    bar.advance(0, failed=1)
    bar.close()
    drawn = screen.getvalue()
    assert "work" in drawn and "3/3" in drawn and "msg/s" in drawn and "failed=1" in drawn
    assert (bar.done, bar.failed) == (3, 1)
    quiet = io.StringIO()  # not a terminal
    off = progress(3, unit="msg", desc="work", stream=quiet)
    off.advance(3)
    off.close()
    assert not off.shown and quiet.getvalue() == "" and off.done == 3
    hidden = progress(3, unit="msg", desc="work", stream=_Terminal(), enabled=False)  # --no-progress
    assert not hidden.shown


def test_blast_shows_a_bar_with_rate_on_a_terminal_and_only_the_summary_on_stdout(server):
    pytest.importorskip("tqdm")
    argv = [*_script(), "blast", "--server", f"{server.host}:{server.port}", "-m", "20", "-c", "2"]
    code, out, terminal = _run_with_stderr_on_a_terminal(argv)
    assert code == 0, terminal
    assert "blast" in terminal and "20/20" in terminal and "msg/s" in terminal and "100%" in terminal
    assert out.splitlines()[1:3] == ["sent:             20", "failed:           0"]
    assert "%" not in out  # the bar never goes to stdout
    code, out, terminal = _run_with_stderr_on_a_terminal([*argv, "--no-progress"])
    assert code == 0 and "20/20" not in terminal and "%" not in terminal
    assert len(server.messages) == 40


def test_without_tqdm_a_terminal_gets_a_hint_and_no_bar(server, tmp_path):
    blocker = tmp_path / "sitecustomize.py"  # tqdm made unimportable in the child only
    blocker.write_text("import sys\nsys.modules['tqdm'] = None\n")
    argv = [sys.executable, "-m", "smtpx", "queue", "run", str(tmp_path), "--server", f"{server.host}:{server.port}"]
    code, out, terminal = _run_with_stderr_on_a_terminal(argv, env={"PYTHONPATH": str(tmp_path)})
    assert code == 0, terminal
    assert "pip install" not in terminal and "smtpx[cli]" in terminal and "%" not in terminal
    assert out == "queue run: 0 sent, 0 failed, 0 recovered\n"


def test_console_script_send_with_attachment_html_and_header(server, tmp_path):
    attachment = tmp_path / "photo.png"
    attachment.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    done = subprocess.run([*_script(), "send", "--server", f"{server.host}:{server.port}", "--from", "a@example.com",
                           "--to", "b@example.com", "--subject", "script", "--body", "text", "--html", "<i>html</i>",
                           "--attach", str(attachment), "--header", "X-Script: yes"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "sent to b@example.com\n" and done.stderr == ""
    msg = parsed(server.messages[0].data)
    assert msg["X-Script"] == "yes"
    assert msg.get_body(("html",)) is not None
    (part,) = list(msg.iter_attachments())
    assert part.get_content_type() == "image/png" and part.get_payload(decode=True) == attachment.read_bytes()


def test_console_script_version_and_bad_header():
    done = subprocess.run([*_script(), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == f"smtpx {smtpx.__version__}\n"
    done = subprocess.run([*_script(), "send", "--server", "127.0.0.1", "--from", "a@example.com", "--to",
                           "b@example.com", "--header", "X-A: 1\nX-B: 2"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "argument --header:" in done.stderr and "LF" in done.stderr


def test_queue_run_bar_counts_the_files(server, tmp_path):
    pytest.importorskip("tqdm")
    for n in range(5):
        assert subprocess.run([*_script(), "queue", "add", str(tmp_path), "--from", "a@example.com",
                               "--to", f"r{n}@example.com"], capture_output=True, timeout=60).returncode == 0
    argv = [*_script(), "queue", "run", str(tmp_path), "--server", f"{server.host}:{server.port}", "-c", "2"]
    code, out, terminal = _run_with_stderr_on_a_terminal(argv)
    assert code == 0, terminal
    assert "queue run" in terminal and "5/5" in terminal and "msg/s" in terminal
    assert out == "queue run: 5 sent, 0 failed, 0 recovered\n"
    assert len(server.messages) == 5 and os.listdir(tmp_path) == []
