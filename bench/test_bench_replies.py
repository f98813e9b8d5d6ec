"""ReplyScanner on a 200-line EHLO-style reply against a readline-and-split loop shaped like
smtplib's getreply (lines read with readline from an io.BytesIO, length and code checked,
text stripped and collected), in the same run. Floor: 10x for the compiled kernel. Also
compiled against its pure twin.

Both sides start from the same bytes each round: the baseline wraps them in a fresh BytesIO,
the scanner side makes a fresh ReplyScanner. The baseline leaves the text as bytes (as
getreply does); the scanner also decodes every line to str, so it does strictly more work.
"""
from __future__ import annotations

import io

from _ratio import compiled_kernels, pure_kernels

_EXTENSIONS = [b"PIPELINING", b"SIZE 52428800", b"ETRN", b"AUTH PLAIN LOGIN CRAM-MD5", b"ENHANCEDSTATUSCODES",
               b"8BITMIME", b"DSN", b"CHUNKING", b"BINARYMIME", b"STARTTLS"]
LINES = [b"mx.example.org Hello client.example.net [192.0.2.10]"]
LINES += [_EXTENSIONS[i % 10] if i < 10 else b"X-EXTENSION-%03d PARAM=VALUE%d" % (i, i) for i in range(198)]
LINES += [b"SMTPUTF8"]
REPLY = b"".join(b"250-" + line + b"\r\n" for line in LINES[:-1]) + b"250 " + LINES[-1] + b"\r\n"
MAXLINE = 8192
GROUP = "ReplyScanner, 200-line EHLO reply"


class GetReplyLoop:
    """The shape of smtplib.SMTP.getreply: an object with a file and a debug level, one
    readline per line, the same checks, the text stripped and joined."""

    debuglevel = 0

    def __init__(self, data: bytes) -> None:
        self.file = io.BytesIO(data)

    def getreply(self) -> tuple[int, bytes]:
        resp = []
        while True:
            try:
                line = self.file.readline(MAXLINE + 1)
            except OSError as exc:
                raise EOFError("connection closed") from exc
            if not line:
                raise EOFError("connection closed")
            if self.debuglevel > 0:
                print("reply:", repr(line))
            if len(line) > MAXLINE:
                raise ValueError("line too long")
            resp.append(line[4:].strip(b" \t\r\n"))
            code = line[:3]
            try:
                errcode = int(code)
            except ValueError:
                errcode = -1
                break
            if line[3:4] != b"-":
                break
        return errcode, b"\n".join(resp)


def getreply_loop(data: bytes = REPLY) -> tuple[int, bytes]:
    return GetReplyLoop(data).getreply()


def scan_with(kernels):
    scanner_class = kernels.ReplyScanner

    def scan(data: bytes = REPLY):
        return scanner_class().feed(data)

    return scan


def test_workload_is_what_it_claims():
    code, text = getreply_loop()
    assert code == 250 and len(text.split(b"\n")) == 200
    for kernels in (compiled_kernels(), pure_kernels()):
        (reply,) = scan_with(kernels)()
        assert reply.code == 250 and reply.lines == [line.decode() for line in LINES]


def test_bench_replies_getreply_loop(benchmark, ratios):
    benchmark(getreply_loop)
    ratios.record(GROUP, "readline loop", benchmark, baseline=True)


def test_bench_replies_compiled(benchmark, ratios):
    benchmark(scan_with(compiled_kernels()))
    ratios.record(GROUP, "smtpx c", benchmark, floor=10)
    ratios.record("ReplyScanner: compiled vs pure", "smtpx c", benchmark)


def test_bench_replies_pure(benchmark, ratios):
    benchmark(scan_with(pure_kernels()))
    ratios.record(GROUP, "smtpx py", benchmark)
    ratios.record("ReplyScanner: compiled vs pure", "smtpx py", benchmark, baseline=True)
