"""Dot-stuffing + CRLF normalisation of 10 MB of mixed text (CRLF, bare LF and bare CR line
ends, lines that start with ".", some UTF-8) against smtplib's two regex substitutions
(``_fix_eols``'s pattern, then ``_quote_periods``), in the same run. Floor: 20x for the
compiled DotStuffer. Also compiled against pure for DotStuffer and CRLFNormalizer.
"""
from __future__ import annotations

import random
import re
import smtplib

import pytest

from _ratio import compiled_kernels, pure_kernels

SIZE = 10 * 1024 * 1024
GROUP = "dot-stuffing + CRLF, 10 MB mixed text"

# smtplib._fix_eols's pattern, for bytes (smtplib only applies it to str messages)
_FIX_EOLS = re.compile(rb"(?:\r\n|\n|\r(?!\n))")


def mixed_text(size: int, seed: int = 7) -> bytes:
    rnd = random.Random(seed)
    words = [b"the", b"quick", b"brown", b"fox", b"jumps", b"over", b"lazy", b"dog", b"SMTP",
             b"mail", b"caf\xc3\xa9", b"na\xc3\xafve", b".hidden", b"x=y", b"tab\there", b"1234567890"]
    line_ends = [b"\r\n"] * 6 + [b"\n"] * 3 + [b"\r"]
    parts, total = [], 0
    while total < size:
        line = b" ".join(rnd.choice(words) for _ in range(rnd.randrange(0, 14)))
        if rnd.random() < 0.05:
            line = b"." + line
        line += rnd.choice(line_ends)
        parts.append(line)
        total += len(line)
    return b"".join(parts)[:size]


@pytest.fixture(scope="module")
def text() -> bytes:
    return mixed_text(SIZE)


def smtplib_quote(data: bytes) -> bytes:
    """What smtplib does to a message: fix line ends, double leading dots, terminate."""
    quoted = smtplib._quote_periods(_FIX_EOLS.sub(b"\r\n", data))
    if quoted[-2:] != b"\r\n":
        quoted += b"\r\n"
    return quoted + b".\r\n"


def stuff(kernels, data: bytes) -> tuple[bytes, bytes]:
    # the pieces go to the socket one after the other: no need to join them (smtplib does)
    stuffer = kernels.DotStuffer()
    return stuffer.feed(data), stuffer.finish()


def normalise(kernels, data: bytes) -> tuple[bytes, bytes]:
    normalizer = kernels.CRLFNormalizer()
    return normalizer.feed(data), normalizer.finish()


def test_workload_is_what_it_claims(text):
    assert len(text) == SIZE
    assert all(end in text for end in (b"\r\n", b"\n.", b"\r."))
    expected = smtplib_quote(text)
    assert b"".join(stuff(compiled_kernels(), text)) == expected
    assert b"".join(stuff(pure_kernels(), text)) == expected


def test_bench_stuffing_smtplib(benchmark, ratios, text):
    benchmark(smtplib_quote, text)
    ratios.record(GROUP, "smtplib regexes", benchmark, baseline=True)


def test_bench_stuffing_compiled(benchmark, ratios, text):
    benchmark(stuff, compiled_kernels(), text)
    ratios.record(GROUP, "smtpx c DotStuffer", benchmark, floor=20)
    ratios.record("DotStuffer: compiled vs pure", "smtpx c", benchmark)


def test_bench_stuffing_pure(benchmark, ratios, text):
    benchmark(stuff, pure_kernels(), text)
    ratios.record(GROUP, "smtpx py DotStuffer", benchmark)
    ratios.record("DotStuffer: compiled vs pure", "smtpx py", benchmark, baseline=True)


def test_bench_normalizer_compiled(benchmark, ratios, text):
    benchmark(normalise, compiled_kernels(), text)
    ratios.record("CRLFNormalizer: compiled vs pure", "smtpx c", benchmark)


def test_bench_normalizer_pure(benchmark, ratios, text):
    benchmark(normalise, pure_kernels(), text)
    ratios.record("CRLFNormalizer: compiled vs pure", "smtpx py", benchmark, baseline=True)
