"""The durable queue: files written atomically, claimed with flock and rename, recovered
after a crash (``files``). See docs/queue.md."""
from __future__ import annotations

from smtpx.queue.files import *  # noqa: F401,F403
from smtpx.queue.files import __all__  # noqa: F401
