"""Helpers shared by the kernel benchmarks of replies and folding: which implementations to
measure. The ratio table itself is the ``ratios`` fixture of bench/conftest.py."""
from __future__ import annotations

import pytest

from smtpx import kernels


def compiled_kernels():
    """The compiled kernels, or a skip saying the extension was not built."""
    compiled = kernels.load_compiled()
    if compiled is None:
        pytest.skip("the compiled kernels (smtpx._core) were not built")
    return compiled


def pure_kernels():
    return kernels.load_pure()
