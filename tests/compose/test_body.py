"""The body: line ends, transfer encodings, raw bytes, streams, and the bytes a real server
receives."""
from __future__ import annotations

import base64
import binascii
import email
import email.policy
import io
import smtplib
import tracemalloc

import pytest
from tests.compose.compose_helpers import Msg, compose

from smtpx.message.compose import STREAM_CHUNK
from smtpx.errors import SMTPInputError


def basic(**props) -> Msg:
    m = Msg(from_="s@example.com", send_to="t@example.org", message_id="fixed@example.com", message_date="")
    for k, v in props.items():
        setattr(m, k, v)
    return m


def body_of(msg) -> bytes:
    return b"".join(msg.iter_bytes())[len(msg.headers_string.encode()):]


def test_line_ends_normalised_and_final_crlf_added():
    msg = compose(basic(message_text="a\nb\r\nc\rd\r\r\n.e"))
    assert body_of(msg) == b"a\r\nb\r\nc\r\nd\r\n\r\n.e\r\n"
    assert msg.transfer_text == "a\r\nb\r\nc\r\nd\r\n\r\n.e\r\n" and msg.transfer_encoding == "7bit"
    assert "MIME-Version" not in msg.headers_string and not msg.eight_bit
    assert compose(basic(message_text="")).transfer_text == ""


def test_8bit_text_unknown_server_gets_quoted_printable():
    text = "Grüße aus Köln\nplain ascii line\n" * 3
    msg = compose(basic(message_text=text))
    assert msg.transfer_encoding == "quoted-printable" and not msg.eight_bit
    assert "Content-Transfer-Encoding: quoted-printable\r\n" in msg.headers_string
    assert 'Content-Type: text/plain; charset="utf-8"\r\n' in msg.headers_string
    assert body_of(msg).isascii()
    assert binascii.a2b_qp(body_of(msg)).decode() == text.replace("\n", "\r\n")
    parsed = email.message_from_bytes(b"".join(msg.iter_bytes()), policy=email.policy.default)
    assert parsed.get_content().replace("\r\n", "\n") == text


def test_mostly_non_ascii_text_gets_base64():
    text = "日本語のテキスト。" * 20 + "\n"
    msg = compose(basic(message_text=text), server_8bitmime=False)
    assert msg.transfer_encoding == "base64"
    assert all(len(line) <= 76 for line in body_of(msg).split(b"\r\n"))
    assert base64.b64decode(body_of(msg)).decode() == text.replace("\n", "\r\n")


def test_8bit_text_with_8bitmime_server_is_sent_8bit():
    text = "Grüße\n"
    msg = compose(basic(message_text=text), server_8bitmime=True)
    assert msg.transfer_encoding == "8bit" and msg.eight_bit and msg.content().eight_bit
    assert body_of(msg) == "Grüße\r\n".encode()
    assert "Content-Transfer-Encoding: 8bit\r\n" in msg.headers_string
    assert msg.transfer_text == "Grüße\r\n"


def test_long_lines_get_quoted_printable_even_when_ascii():
    text = "x" * 3000 + "\nshort\n"
    msg = compose(basic(message_text=text), server_8bitmime=True)
    assert msg.transfer_encoding == "quoted-printable"
    assert max(len(line) for line in body_of(msg).split(b"\r\n")) <= 76
    assert binascii.a2b_qp(body_of(msg)) == text.replace("\n", "\r\n").encode()


def test_charset_is_used_for_the_body():
    m = basic(message_text="café\n")
    m._config.config("Charset=iso-8859-1")
    msg = compose(m, server_8bitmime=True)
    assert body_of(msg) == "café\r\n".encode("iso-8859-1")
    assert 'charset="iso-8859-1"' in msg.headers_string


def test_user_mime_headers_leave_the_body_alone():
    mime = 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"'
    text = "--b1\r\nContent-Type: text/plain\r\n\r\nhé\r\n--b1--\r\n"
    msg = compose(basic(message_text=text, other_headers=mime), server_8bitmime=True)
    assert msg.headers_string.count("Content-Type") == 1 and msg.transfer_encoding is None
    assert body_of(msg) == text.encode() and msg.eight_bit


def test_raw_message_is_sent_as_given_after_the_headers():
    raw = b"line one\r\n.dot line\r\n\xc3\xa9 8-bit\r\n"
    m = basic(message_text="ignored", message=raw, subject="s")
    msg = compose(m)
    assert body_of(msg) == raw and msg.transfer_encoding is None and msg.eight_bit
    assert "Content-Transfer-Encoding" not in msg.headers_string
    assert msg.size == len(msg.headers_string) + len(raw)
    with pytest.raises(SMTPInputError):
        m.message = "not bytes"  # type: ignore[assignment]


def test_nul_in_text_is_encoded():
    msg = compose(basic(message_text="a\x00b\n"))
    assert msg.transfer_encoding in ("quoted-printable", "base64") and not msg.binary
    assert b"\x00" not in body_of(msg)


class ZeroStream(io.RawIOBase):
    """A large stream that holds nothing in memory."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.closed_by_us = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self.left)
        buf[:n] = b"a" * n if n <= 1 << 16 else bytes(n)
        self.left -= n
        return n

    def close(self) -> None:
        self.closed_by_us = True
        super().close()


def test_stream_is_read_in_chunks_with_flat_memory():
    size = 200 * 1024 * 1024
    stream = ZeroStream(size)
    m = basic()
    m.set_message_stream(stream)
    msg = compose(m)
    assert msg.size is None and msg.transfer_text is None  # not seekable: unknown size
    tracemalloc.start()
    total = 0
    biggest = 0
    for chunk in msg.content().chunks:
        total += len(chunk)
        biggest = max(biggest, len(chunk))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert total == size + len(msg.headers_string)
    assert biggest <= STREAM_CHUNK and peak < 4 * 1024 * 1024
    msg.close()
    assert stream.closed_by_us  # CloseStreamAfterTransfer defaults to True
    with pytest.raises(SMTPInputError, match="not seekable"):
        list(msg.content().chunks)


def test_seekable_stream_size_rewind_and_keep_open():
    data = b"Line 1\r\n.dot\r\n" * 1000
    f = io.BytesIO(b"skip" + data)
    f.seek(4)  # read from the current position
    m = basic()
    m._config.config("CloseStreamAfterTransfer=false")
    m.set_message_stream(f)
    msg = compose(m)
    assert msg.size == len(msg.headers_string) + len(data)
    first = b"".join(msg.content().chunks)
    second = b"".join(msg.content().chunks)  # a retry rewinds to where the stream started
    assert first == second == msg.headers_string.encode() + data
    msg.close()
    assert not f.closed


def test_stream_replaces_message_and_back():
    m = basic(message=b"raw\r\n")
    m.set_message_stream(io.BytesIO(b"from stream\r\n"))
    assert m.message == b""
    assert body_of(compose(m)) == b"from stream\r\n"
    m.message = b"raw again\r\n"
    assert body_of(compose(m)) == b"raw again\r\n"
    with pytest.raises(SMTPInputError):
        m.set_message_stream("not a stream")  # type: ignore[arg-type]


def test_text_stream_is_refused_when_read():
    m = basic()
    m.set_message_stream(io.StringIO("text"))
    with pytest.raises(SMTPInputError, match="binary"):
        list(compose(m).content().chunks)


# --- byte for byte through a real server ---------------------------------------------------------

@pytest.fixture
def sink():
    from tests.queue.recording_sink import Sink

    server = Sink().start()
    yield server
    server.stop()


@pytest.mark.parametrize("server_8bitmime", [None, True])
def test_received_byte_for_byte(sink, server_8bitmime):
    m = Msg(from_='"Jöhn Døe" <john@example.com>', send_to="Bob <bob@example.org>", cc="c@example.org",
            bcc="hidden@example.org", subject="Grüße — a subject that is long enough to be folded somewhere",
            message_text=".leading dot\nmiddle\n..two dots\nümlaut\n.")
    msg = compose(m, server_8bitmime=server_8bitmime)
    with smtplib.SMTP("127.0.0.1", sink.port, timeout=30) as conn:
        conn.sendmail(msg.envelope.mail_from, [r.address for r in msg.envelope.recipients],
                      b"".join(msg.content().chunks))
    [(mail_from, rcpts, data)] = sink.messages
    assert data == b"".join(msg.iter_bytes()) == (msg.headers_string + msg.transfer_text).encode()
    assert mail_from == "john@example.com"
    assert rcpts == ["bob@example.org", "c@example.org", "hidden@example.org"]
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed.get_content().replace("\r\n", "\n") == ".leading dot\nmiddle\n..two dots\nümlaut\n.\n"
    assert str(parsed["Subject"]) == m.subject and "Bcc" not in parsed


def test_in_memory_content_is_reiterable_stream_is_one_shot():
    chunks = compose(basic(message_text="x\n")).content().chunks
    assert iter(chunks) is not chunks and b"".join(chunks) == b"".join(chunks)
    m = basic()
    m.set_message_stream(io.BytesIO(b"s\r\n"))
    stream_chunks = compose(m).content().chunks
    assert iter(stream_chunks) is stream_chunks


@pytest.mark.parametrize("text", ["plain ASCII\n", "Grüße aus Köln, a longer line of plain ASCII text\n", "Grüße\n"])
def test_for_server_gives_what_composing_for_that_server_gives(text):
    """send() composes before connecting (the 7-bit-safe form), then for_server() adapts the
    message to the server's 8BITMIME: the same bytes as composing for that server at once."""
    m = basic(message_text=text)
    early = compose(m)
    for has_8bitmime in (True, False):
        adapted = early.for_server(has_8bitmime)
        direct = compose(m, server_8bitmime=has_8bitmime)
        assert b"".join(adapted.iter_bytes()) == b"".join(direct.iter_bytes())
        assert (adapted.eight_bit, adapted.transfer_encoding, adapted.size) == \
            (direct.eight_bit, direct.transfer_encoding, direct.size)
        assert (adapted is early) == (text.isascii() or not has_8bitmime)  # re-planned only when it matters


def test_a_streams_8bit_flag_follows_the_server():
    m = basic()
    m.set_message_stream(io.BytesIO(b"8-bit \xc3\xbc\r\n"))
    early = compose(m)
    assert not early.eight_bit and early.for_server(True).eight_bit and early.for_server(False) is early


def test_transfer_text_is_decoded_only_when_asked():
    import dataclasses

    from smtpx.message.compose import ComposedMessage

    assert "transfer_text" not in {f.name for f in dataclasses.fields(ComposedMessage)}
    msg = compose(basic(message_text="Grüße\n"), server_8bitmime=True)
    assert msg.transfer_text == "Grüße\r\n"
