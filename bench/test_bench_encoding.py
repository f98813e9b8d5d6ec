"""Transfer encodings and body classification on large data, in the same run as their
baselines:

- b64_encode_wrapped on 10 MB of random bytes against base64.encodebytes (floor 3x);
- qp_encode on 10 MB of mixed text (line ends, tabs, "=", UTF-8) against
  binascii.b2a_qp (floor 2x); 10 MB of random bytes is measured too, for information;
- every compiled kernel against its pure twin, classify_body included.
"""
from __future__ import annotations

import base64
import binascii
import random

import pytest

from _ratio import compiled_kernels, pure_kernels

SIZE = 10 * 1024 * 1024
B64 = "b64_encode_wrapped, 10 MB random bytes"
QP_TEXT = "qp_encode, 10 MB mixed text"
QP_BINARY = "qp_encode, 10 MB random bytes"


def mixed_text(size: int, seed: int = 11) -> bytes:
    rnd = random.Random(seed)
    words = [b"the", b"quick", b"brown", b"fox", b"jumps", b"over", b"lazy", b"dog", b"SMTP",
             b"mail", b"caf\xc3\xa9", b"na\xc3\xafve", b".hidden", b"x=y", b"tab\there", b"1234567890"]
    parts, total = [], 0
    while total < size:
        line = b" ".join(rnd.choice(words) for _ in range(rnd.randrange(0, 16))) + b"\r\n"
        parts.append(line)
        total += len(line)
    return b"".join(parts)[:size]


@pytest.fixture(scope="module")
def random_bytes() -> bytes:
    return random.Random(3).randbytes(SIZE)


@pytest.fixture(scope="module")
def text() -> bytes:
    return mixed_text(SIZE)


def test_workloads_are_what_they_claim(random_bytes, text):
    c, py = compiled_kernels(), pure_kernels()
    assert c.b64_encode_wrapped(random_bytes) == base64.encodebytes(random_bytes).replace(b"\n", b"\r\n")
    for data in (text, random_bytes):
        encoded = c.qp_encode(data)
        assert binascii.a2b_qp(encoded) == data
        assert encoded == py.qp_encode(data)
    assert c.classify_body(text) == py.classify_body(text)


# --- base64 ---------------------------------------------------------------------------------

def test_bench_b64_encodebytes(benchmark, ratios, random_bytes):
    benchmark(base64.encodebytes, random_bytes)
    ratios.record(B64, "base64.encodebytes", benchmark, baseline=True)


def test_bench_b64_compiled(benchmark, ratios, random_bytes):
    benchmark(compiled_kernels().b64_encode_wrapped, random_bytes)
    ratios.record(B64, "smtpx c", benchmark, floor=3)
    ratios.record("b64_encode_wrapped: compiled vs pure", "smtpx c", benchmark)


def test_bench_b64_pure(benchmark, ratios, random_bytes):
    benchmark(pure_kernels().b64_encode_wrapped, random_bytes)
    ratios.record(B64, "smtpx py", benchmark)
    ratios.record("b64_encode_wrapped: compiled vs pure", "smtpx py", benchmark, baseline=True)


# --- quoted-printable -----------------------------------------------------------------------

def test_bench_qp_text_b2a_qp(benchmark, ratios, text):
    benchmark(binascii.b2a_qp, text)
    ratios.record(QP_TEXT, "binascii.b2a_qp", benchmark, baseline=True)


def test_bench_qp_text_compiled(benchmark, ratios, text):
    benchmark(compiled_kernels().qp_encode, text)
    ratios.record(QP_TEXT, "smtpx c", benchmark, floor=2)
    ratios.record("qp_encode: compiled vs pure", "smtpx c", benchmark)


def test_bench_qp_text_pure(benchmark, ratios, text):
    benchmark.pedantic(pure_kernels().qp_encode, (text,), rounds=3, iterations=1)
    ratios.record(QP_TEXT, "smtpx py", benchmark)
    ratios.record("qp_encode: compiled vs pure", "smtpx py", benchmark, baseline=True)


def test_bench_qp_binary_b2a_qp(benchmark, ratios, random_bytes):
    benchmark(binascii.b2a_qp, random_bytes)
    ratios.record(QP_BINARY, "binascii.b2a_qp", benchmark, baseline=True)


def test_bench_qp_binary_compiled(benchmark, ratios, random_bytes):
    benchmark(compiled_kernels().qp_encode, random_bytes)
    ratios.record(QP_BINARY, "smtpx c", benchmark)


# --- classify_body (no stdlib baseline: compiled against pure) ------------------------------

def test_bench_classify_compiled(benchmark, ratios, text):
    benchmark(compiled_kernels().classify_body, text)
    ratios.record("classify_body: compiled vs pure", "smtpx c", benchmark)


def test_bench_classify_pure(benchmark, ratios, text):
    benchmark(pure_kernels().classify_body, text)
    ratios.record("classify_body: compiled vs pure", "smtpx py", benchmark, baseline=True)
