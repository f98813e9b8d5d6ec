"""Shared test setup.

- ``kernel_impl``: every kernel test runs against both implementations, ids ``py`` and ``c``.
  The ``c`` case skips when the extension was not built, unless SMTPX_REQUIRE_COMPILED=1
  (set by the test command), where a missing build fails instead.
- Real servers (aiosmtpd, Postfix, smtp-sink, dante, tinyproxy) are fixtures in tests/servers.
"""
from __future__ import annotations

import os

import pytest

from smtpx import kernels as _kernels
from tests.servers.fixtures import *  # noqa: F401,F403


@pytest.fixture(params=["py", "c"])
def kernel_impl(request):
    """The kernel namespace of one implementation (same names as smtpx.kernels)."""
    if request.param == "py":
        return _kernels.load_pure()
    compiled = _kernels.load_compiled()
    if compiled is None:
        if os.environ.get("SMTPX_REQUIRE_COMPILED") == "1":
            pytest.fail("the compiled kernels (smtpx._core) were not built, and this run requires them")
        pytest.skip("the compiled kernels (smtpx._core) were not built in this install")
    return compiled


@pytest.fixture
def both_kernel_impls():
    """(pure, compiled) for agreement tests; skips like kernel_impl when there is no build."""
    compiled = _kernels.load_compiled()
    if compiled is None:
        if os.environ.get("SMTPX_REQUIRE_COMPILED") == "1":
            pytest.fail("the compiled kernels (smtpx._core) were not built, and this run requires them")
        pytest.skip("the compiled kernels (smtpx._core) were not built in this install")
    return _kernels.load_pure(), compiled
