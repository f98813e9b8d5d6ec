"""The proxy fixtures themselves: a missing binary names its Debian package; config files
keep every proxy on loopback."""
from __future__ import annotations

import pytest

from tests.servers import proxies


def test_missing_binary_names_the_debian_package():
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y some-package"):
        proxies._require("smtpx-no-such-binary", "some-package")


def test_dante_config_listens_and_forwards_on_loopback_only():
    conf = proxies._dante_config("/tmp/x.log", 1080, with_ipv6=True, method="username")
    internal = [line for line in conf.splitlines() if line.startswith("internal:")]
    assert internal == ["internal: 127.0.0.1 port = 1080", "internal: ::1 port = 1080"]
    passes = [line for line in conf.splitlines() if line.startswith("socks pass")]
    assert passes and all("to: 127.0.0.0/8" in line or "to: ::1/128" in line for line in passes)
    assert "socks block { from: 0/0 to: 0/0" in conf
    assert "socksmethod: username" in conf
