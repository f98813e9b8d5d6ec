"""The class reference the facade implements: ``smtp-class-reference.txt`` in ``shared/spec/``
beside the repository (``<repository>/../shared/spec/``), as on every developer machine and in
CI, where the run's clone has a copy of shared/ beside it.

The lists are read when a test module imports this one. A missing reference gives empty lists
and ``MISSING`` (the reason): the tests that use them must then fail, never collect 0 cases
and pass (see test_reference_surface.test_the_reference_lists_were_read)."""
from __future__ import annotations

import pathlib
import re

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]
SPEC = REPOSITORY.parent / "shared" / "spec" / "smtp-class-reference.txt"

try:
    _TEXT: str | None = SPEC.read_text(encoding="utf-8")
    MISSING = ""
except OSError as exc:
    _TEXT = None
    MISSING = f"the class reference is missing: {SPEC} ({exc.strerror or exc})"


def names(title: str, end: str) -> list[str]:
    """The item names of one list of the reference: the lines "Name | description |" between
    the line ``title`` and the next line that starts with ``end`` ([] when the reference is
    missing)."""
    if _TEXT is None:
        return []
    body = _TEXT.split(f"\n{title}\n", 1)[1].split(f"\n{end}", 1)[0]
    return [line.split(" | ", 1)[0].strip() for line in body.splitlines() if " | " in line]


PROPERTIES = names("Property List", "Method List")
METHODS = names("Method List", "Event List")
EVENTS = names("Event List", "Config Settings")
CONFIG_SETTINGS = names("Config Settings", "AllowExtensions Property")


def snake(name: str) -> str:
    """The reference's name as smtpx spells it: SendTo -> send_to, SSLCert -> ssl_cert."""
    special = {"From": "from_", "BCc": "bcc"}
    if name in special:
        return special[name]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()
