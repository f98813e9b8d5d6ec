"""The command line: ``smtpx send`` and ``smtpx demo`` (``main``), the embedded demo sink
(``demo``)."""
from __future__ import annotations

from smtpx.cli.main import main

__all__ = ["main"]
