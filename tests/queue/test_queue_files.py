"""Queue files: atomic write, text form, reading back, corruption and truncation detection."""
from __future__ import annotations

import os

import pytest
from tests.queue.queue_helpers import composed, wire_bytes

from smtpx.errors import SMTPInputError
from smtpx.queue.files import (
    KEEP_IN_MEMORY,
    MAGIC,
    QueueCorrupt,
    process_queue_dir,
    queue_text,
    read_queue_file,
    write_queue_file,
)


def _read(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        queued = read_queue_file(fd)
        data = os.pread(fd, queued.length, queued.offset)
    finally:
        os.close(fd)
    return queued, data


# A file up to KEEP_IN_MEMORY is read whole and parsed in memory; a bigger one is read in
# chunks: each test below runs on both.
SIZES = {"small": None, "big": "a line of a big message body\n" * (KEEP_IN_MEMORY // 25)}


@pytest.mark.parametrize("size", SIZES)
def test_write_then_read_back_exact_bytes_and_envelope(tmp_path, size):
    msg = composed(1, SIZES[size])
    path = write_queue_file(tmp_path, msg)
    assert (os.path.getsize(path) > KEEP_IN_MEMORY) == (size == "big")
    assert path.endswith(".queued") and os.path.dirname(path) == str(tmp_path)
    assert os.listdir(tmp_path) == [os.path.basename(path)]  # no temp file left behind
    queued, data = _read(path)
    assert data == wire_bytes(msg)
    assert queued.data == (data if size == "small" else None)
    assert queued.envelope.mail_from == "sender1@example.com"
    assert [(r.address, r.kind.name) for r in queued.envelope.recipients] == [
        ("to1@example.org", "TO"), ("cc@example.org", "CC"), ("hidden@example.org", "BCC")]
    assert (os.stat(path).st_mode & 0o777) == 0o600


def test_names_are_unique(tmp_path):
    msg = composed(2)
    names = {write_queue_file(tmp_path, msg) for _ in range(50)}
    assert len(names) == 50


def test_queue_text_is_the_file_content(tmp_path):
    msg = composed(3)
    path = write_queue_file(tmp_path, msg)
    text = queue_text(msg)
    assert text.startswith(MAGIC.decode())
    with open(path, "rb") as f:
        on_disk = f.read()
    # created timestamps differ; everything else is the same
    strip = lambda b: b.split(b"\n", 2)[2]  # noqa: E731
    assert strip(text.encode("utf-8", "surrogateescape")) == strip(on_disk)


def test_options_and_null_reverse_path_survive(tmp_path):
    from smtpx.types import MessageRecipient

    msg = composed(4, return_path="<>")
    msg.envelope.recipients[0].options = "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;to4@example.org"
    _ = MessageRecipient  # the options come from MessageRecipient.options in real use
    queued, _ = _read(write_queue_file(tmp_path, msg))
    assert queued.envelope.mail_from == ""
    assert queued.envelope.recipients[0].options == "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;to4@example.org"


def test_missing_folder_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(SMTPInputError, match="does not exist"):
        write_queue_file(missing, composed(5))
    with pytest.raises(SMTPInputError, match="does not exist"):
        process_queue_dir(missing, lambda e, c: None)
    assert not missing.exists()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("damage", ["flip", "truncate", "truncate_body", "garbage", "empty", "bad_json", "grow",
                                    "no_newline"])
def test_damaged_files_are_detected(tmp_path, damage, size):
    path = write_queue_file(tmp_path, composed(6, SIZES[size]))
    with open(path, "rb") as f:
        data = f.read()
    if damage == "flip":
        i = len(data) // 2
        data = data[:i] + bytes([data[i] ^ 0x20]) + data[i + 1:]
    elif damage == "truncate":
        data = data[:-10]
    elif damage == "truncate_body":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = b"hello, world\n" * 20
    elif damage == "empty":
        data = b""
    elif damage == "bad_json":
        first, second, rest = data.split(b"\n", 2)
        data = first + b"\n{not json\n" + rest
    elif damage == "grow":
        head, tail = data.rsplit(b"\nSMTPXQ-END ", 1)
        data = head + b"extra" + b"\nSMTPXQ-END " + tail
    elif damage == "no_newline":  # the envelope line never ends
        data = data.split(b"\n", 1)[0] + b"\n" + data.split(b"\n", 2)[1]
    with open(path, "wb") as f:
        f.write(data)
    with pytest.raises(QueueCorrupt):
        _read(path)


def test_corrupt_and_truncated_files_become_failed_and_the_run_goes_on(tmp_path):
    good_msgs = [composed(i) for i in range(3)]
    good = [write_queue_file(tmp_path, m) for m in good_msgs]
    bad = write_queue_file(tmp_path, composed(10))
    truncated = write_queue_file(tmp_path, composed(11))
    with open(bad, "r+b") as f:
        f.seek(200)
        f.write(b"X")
    with open(truncated, "r+b") as f:
        f.truncate(os.path.getsize(truncated) - 7)
    (tmp_path / "junk.queued").write_bytes(b"not a queue file")
    sent = []
    errors = []
    run = process_queue_dir(tmp_path, lambda env, content: sent.append(b"".join(content.chunks)),
                            on_error=lambda name, exc: errors.append(name))
    assert sorted(sent) == sorted(wire_bytes(m) for m in good_msgs)  # only the good ones were sent
    assert len(run.sent) == 3 and len(run.failed) == 3
    assert all(isinstance(exc, QueueCorrupt) for _, exc in run.failed)
    left = sorted(os.listdir(tmp_path))
    assert left == sorted([os.path.basename(bad)[:-7] + ".failed", os.path.basename(truncated)[:-7] + ".failed",
                           "junk.failed"])
    assert sorted(errors) == sorted(n for n, _ in run.failed)
    assert all(not os.path.exists(p) for p in good)


def test_send_error_parks_the_file_as_failed_never_deleted(tmp_path):
    msgs = [composed(i) for i in range(3)]
    paths = [write_queue_file(tmp_path, m) for m in msgs]
    calls = []

    def send_one(env, content):
        calls.append(env.recipients[0].address)
        if env.recipients[0].address == "to1@example.org":
            raise ConnectionResetError("the server dropped the connection after 354")

    run = process_queue_dir(tmp_path, send_one)
    assert calls == ["to0@example.org", "to1@example.org", "to2@example.org"]  # oldest first, went on
    failed = os.path.basename(paths[1])[:-len(".queued")] + ".failed"
    assert os.listdir(tmp_path) == [failed]
    assert isinstance(run.failed[0][1], ConnectionResetError)
    # the failed file is intact: it still reads back to the exact message
    _, data = _read(tmp_path / failed)
    assert data == wire_bytes(msgs[1])


def test_keep_queue_renames_to_sent(tmp_path):
    path = write_queue_file(tmp_path, composed(1))
    run = process_queue_dir(tmp_path, lambda e, c: list(c.chunks), keep_queue=True)
    stem = os.path.basename(path)[: -len(".queued")]
    assert os.listdir(tmp_path) == [stem + ".sent"] and run.sent == [stem + ".sent"]


def test_temp_files_and_other_files_are_left_alone(tmp_path):
    (tmp_path / ".123.tmp").write_bytes(b"half written")
    (tmp_path / "notes.txt").write_bytes(b"x")
    run = process_queue_dir(tmp_path, lambda e, c: None)
    assert run.sent == [] and run.failed == []
    assert sorted(os.listdir(tmp_path)) == [".123.tmp", "notes.txt"]


def test_queue_text_round_trips_8bit_bytes(tmp_path):
    msg = composed(7, message=b"raw \xff\xfe bytes\r\n")
    text = queue_text(msg)
    data = text.encode("utf-8", "surrogateescape")
    path = tmp_path / "x.queued"
    path.write_bytes(data)
    queued, body = _read(path)
    assert body == wire_bytes(msg) and body.endswith(b"raw \xff\xfe bytes\r\n")


def test_queued_content_is_reiterable(tmp_path):
    msg = composed(8)
    write_queue_file(tmp_path, msg)
    seen = []

    def send_one(env, content):
        assert iter(content.chunks) is not content.chunks  # the engine may pipeline and retry
        seen.append(b"".join(content.chunks))
        seen.append(b"".join(content.chunks))
        assert content.size == len(seen[0])

    process_queue_dir(tmp_path, send_one)
    assert seen == [wire_bytes(msg)] * 2


@pytest.mark.parametrize("entry", ["none", "no entry", "unknown", "delivered"])
def test_a_session_failure_with_results_settles_the_file_by_its_entry(tmp_path, entry):
    """send_one raising a session failure with ``.results`` (as the engine's send_batch does):
    certainly not delivered -> the file stays *.sending and the run stops (FAULTS.md #40);
    delivery unknown -> *.failed saying so; delivered -> committed; the run goes on."""
    from smtpx.engine import SendResult
    from smtpx.errors import SMTPConnectionDropped

    paths = [write_queue_file(tmp_path, composed(i)) for i in range(2)]
    stems = [os.path.basename(p)[: -len(".queued")] for p in paths]
    outcome = {"none": [None], "no entry": [], "delivered": [SendResult()],
               "unknown": [SMTPConnectionDropped("after the end of data", delivery_unknown=True)]}[entry]
    calls = []

    def send_one(env, content):
        calls.append(env.recipients[0].address)
        if len(calls) == 1:
            error = SMTPConnectionDropped("connection dropped by the remote host while writing")
            error.results = outcome
            raise error

    if entry in ("none", "no entry"):
        with pytest.raises(SMTPConnectionDropped) as info:
            process_queue_dir(tmp_path, send_one)
        assert info.value.queue_run.failed == [] and info.value.queue_run.sent == []
        assert sorted(os.listdir(tmp_path)) == [f"{stems[0]}.sending", f"{stems[1]}.queued"]
        assert calls == ["to0@example.org"]  # the run stopped
        again = process_queue_dir(tmp_path, lambda e, c: None)  # the lock was released
        assert again.recovered == [f"{stems[0]}.sending"] and len(again.sent) == 2
        return
    run = process_queue_dir(tmp_path, send_one)
    assert calls == ["to0@example.org", "to1@example.org"]
    if entry == "unknown":
        [(name, error)] = run.failed
        assert name == f"{stems[0]}.failed" and error.delivery_unknown is True
        assert "may or may not" in str(error)
        assert os.listdir(tmp_path) == [f"{stems[0]}.failed"]
    else:
        assert run.failed == [] and len(run.sent) == 2 and os.listdir(tmp_path) == []
