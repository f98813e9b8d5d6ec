"""The command line: ``smtpx send``, ``smtpx queue add|run``, ``smtpx blast`` and ``smtpx demo``
(``main``; docs/cli.md)."""
from __future__ import annotations

from smtpx.cli.main import main

__all__ = ["main"]
