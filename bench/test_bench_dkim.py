"""DKIM, each candidate beside its baseline in the same run:

- canonicalization plus body hash of a 100 KB message (relaxed), against dkimpy's
  canonicalization + SHA-256: floor 20x for the compiled kernel (pure twin shown too);
- whole signing of a 1 KB message with RSA-2048 (relaxed/relaxed), against dkimpy's sign():
  floor 10x; and against the bare ``cryptography`` RSA-2048 signature of the same bytes (the
  physical limit of this path): smtpx must be within 1.5x of it;
- Ed25519 signing of the same message, beside the bare Ed25519 signature (reported).
"""
from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from _ratio import compiled_kernels, pure_kernels
from smtpx.dkim import DKIMSigner

dkim = pytest.importorskip("dkim")
from dkim.canonicalization import Relaxed  # noqa: E402

BODY_GROUP = "DKIM relaxed canonicalization + body hash, 100 KB"
RSA_GROUP = "DKIM sign 1 KB, RSA-2048"
RSA_LIMIT_GROUP = "DKIM sign 1 KB, RSA-2048: smtpx vs bare cryptography"
ED_GROUP = "DKIM sign 1 KB, Ed25519: smtpx vs bare cryptography"

HEADERS = (b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: the weekly letter\r\n"
           b"Date: Sat, 05 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")


def body_text(size: int) -> bytes:
    line = b"Some words  of a letter,\twith white space to fold and trailing blanks   \r\n"
    return (line * (size // len(line) + 1))[:size]


BODY = body_text(100 * 1024)
MESSAGE_1K = HEADERS + body_text(1024 - len(HEADERS) - 2) + b"\r\n"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PEM = RSA_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
ED_KEY = ed25519.Ed25519PrivateKey.generate()


def body_hash(kernels) -> bytes:
    canon = kernels.DKIMBodyCanonicalizer(True)
    digest = hashlib.sha256(canon.feed(BODY))
    digest.update(canon.finish())
    return digest.digest()


def dkimpy_body_hash() -> bytes:
    return hashlib.sha256(Relaxed.canonicalize_body(BODY)).digest()


def test_workload_is_what_it_claims():
    assert len(BODY) == 100 * 1024 and len(MESSAGE_1K) == 1024
    assert body_hash(compiled_kernels()) == body_hash(pure_kernels()) == dkimpy_body_hash()
    signer = DKIMSigner(domain="example.com", selector="s", private_key=RSA_KEY)
    signed = signer.sign(MESSAGE_1K) + MESSAGE_1K
    record = signer.dns_record().encode()
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: record)


def test_bench_body_dkimpy(benchmark, ratios):
    benchmark(dkimpy_body_hash)
    ratios.record(BODY_GROUP, "dkimpy", benchmark, baseline=True)


def test_bench_body_compiled(benchmark, ratios):
    benchmark(body_hash, compiled_kernels())
    ratios.record(BODY_GROUP, "smtpx c", benchmark, floor=20)


def test_bench_body_pure(benchmark, ratios):
    benchmark(body_hash, pure_kernels())
    ratios.record(BODY_GROUP, "smtpx py", benchmark)


def test_bench_sign_rsa_dkimpy(benchmark, ratios):
    benchmark(dkim.sign, MESSAGE_1K, b"s", b"example.com", RSA_PEM, canonicalize=(b"relaxed", b"relaxed"))
    ratios.record(RSA_GROUP, "dkimpy", benchmark, baseline=True)


def test_bench_sign_rsa_smtpx(benchmark, ratios):
    signer = DKIMSigner(domain="example.com", selector="s", private_key=RSA_KEY)
    benchmark(signer.sign, MESSAGE_1K)
    ratios.record(RSA_GROUP, "smtpx", benchmark, floor=10)
    # the limit: ratio bare / smtpx, at least 1 / 1.5
    ratios.record(RSA_LIMIT_GROUP, "smtpx", benchmark, floor=1 / 1.5)


def test_bench_sign_rsa_bare(benchmark, ratios):
    benchmark(RSA_KEY.sign, MESSAGE_1K, padding.PKCS1v15(), hashes.SHA256())
    ratios.record(RSA_LIMIT_GROUP, "bare cryptography", benchmark, baseline=True)


def test_bench_sign_ed25519_smtpx(benchmark, ratios):
    signer = DKIMSigner(domain="example.com", selector="s", private_key=ED_KEY)
    benchmark(signer.sign, MESSAGE_1K)
    ratios.record(ED_GROUP, "smtpx", benchmark)


def test_bench_sign_ed25519_bare(benchmark, ratios):
    benchmark(ED_KEY.sign, MESSAGE_1K)
    ratios.record(ED_GROUP, "bare cryptography", benchmark, baseline=True)


# --- send_batch with signing on and off, 1 KB, smtp-sink (the cost of signing on the wire path)
BATCH = 500
BATCH_GROUP = f"send_batch of {BATCH} x 1 KB on smtp-sink: DKIM off vs on"


@pytest.fixture(scope="module")
def sink():
    from tests.servers.postfix import start_smtp_sink

    server = start_smtp_sink()
    try:
        yield server
    finally:
        server.stop()


def send_batch(port: int, dkim_signer) -> None:
    import smtpx

    smtp = smtpx.SMTP(mail_server="127.0.0.1", mail_port=port, timeout=30, dkim=dkim_signer)
    items = [("alice@example.com", ["bob@example.org"], MESSAGE_1K)] * BATCH
    results = smtp.send_batch(items)
    assert not any(isinstance(result, Exception) for result in results)


def test_bench_batch_unsigned(benchmark, ratios, sink):
    benchmark.pedantic(send_batch, args=(sink.port, None), rounds=7, warmup_rounds=1)
    ratios.record(BATCH_GROUP, "unsigned", benchmark, baseline=True)


@pytest.mark.parametrize("kind", ["rsa2048", "ed25519"])
def test_bench_batch_signed(benchmark, ratios, sink, kind):
    signer = DKIMSigner(domain="example.com", selector="s", private_key=RSA_KEY if kind == "rsa2048" else ED_KEY)
    benchmark.pedantic(send_batch, args=(sink.port, signer), rounds=7, warmup_rounds=1)
    ratios.record(BATCH_GROUP, f"signed {kind}", benchmark)
