"""fold_header on a 200-character non-ASCII Subject against email.header.Header(...).encode()
(same value, same line length, same run). Floor: 30x for the compiled kernel. Also compiled
against its pure twin.
"""
from __future__ import annotations

import re
from email.header import Header, decode_header, make_header

from _ratio import compiled_kernels, pure_kernels

SUBJECT = ("Grüße aus München — Ärger über Öl, naïve café déjà vu; Ihre Bestellung Nr. 4711 "
           "ist unterwegs, vielen Dank für Ihr Vertrauen! Größe: XL, Farbe: Grün, Lieferung "
           "übermorgen zwischen 9 und 12 Uhr. Danke!")[:200]
MAX_LEN = 78
GROUP = "fold_header, 200-char non-ASCII Subject"


def header_encode() -> str:
    return Header(SUBJECT, "utf-8", maxlinelen=MAX_LEN, header_name="Subject").encode()


def _reader_value(field: str) -> str:
    value = re.sub(r"\r\n(?=[ \t])", "", field)
    return str(make_header(decode_header(value)))


def test_workload_is_what_it_claims():
    assert len(SUBJECT) == 200 and not SUBJECT.isascii()
    for fold in (compiled_kernels().fold_header, pure_kernels().fold_header):
        field = fold("Subject", SUBJECT, MAX_LEN)
        assert _reader_value(field.partition(":")[2].lstrip()) == SUBJECT
    assert _reader_value(header_encode().replace("\n", "\r\n")) == SUBJECT


def test_bench_fold_email_header(benchmark, ratios):
    benchmark(header_encode)
    ratios.record(GROUP, "email.header.Header", benchmark, baseline=True)


def test_bench_fold_compiled(benchmark, ratios):
    fold = compiled_kernels().fold_header
    benchmark(fold, "Subject", SUBJECT, MAX_LEN)
    ratios.record(GROUP, "smtpx c", benchmark, floor=30)
    ratios.record("fold_header: compiled vs pure", "smtpx c", benchmark)


def test_bench_fold_pure(benchmark, ratios):
    fold = pure_kernels().fold_header
    benchmark(fold, "Subject", SUBJECT, MAX_LEN)
    ratios.record(GROUP, "smtpx py", benchmark)
    ratios.record("fold_header: compiled vs pure", "smtpx py", benchmark, baseline=True)
