"""Which firewall is used: Firewall fields, FirewallAutoDetect (environment variables),
ProxyExceptionsList and NO_PROXY."""
from __future__ import annotations

import pytest

from smtpx.enums import FirewallType
from smtpx.errors import SMTPInputError
from smtpx.transport.connect import (
    FIREWALL_CONNECTED,
    REMOTE_CONNECTED,
    ConnectOptions,
    open_connection,
)
from smtpx.transport.proxy import (
    ProxySettings,
    bypasses_proxy,
    no_proxy_patterns,
    parse_exceptions_list,
    parse_proxy_url,
    select_proxy,
)
from smtpx.types import Firewall

from tests.servers.sockets import recv_line

from .helpers import GREETING

AUTO = Firewall(auto_detect=True)
ENV_NAMES = ["all_proxy", "ALL_PROXY", "socks_proxy", "SOCKS_PROXY", "https_proxy",
             "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY",
             "REQUEST_METHOD"]


def test_no_firewall():
    assert select_proxy("mail.test", None, []) is None
    assert select_proxy("mail.test", Firewall(), []) is None


def test_firewall_fields_and_default_ports():
    for kind, port in ((FirewallType.TUNNEL, 80), (FirewallType.SOCKS4, 1080),
                       (FirewallType.SOCKS4A, 1080), (FirewallType.SOCKS5, 1080)):
        firewall = Firewall(firewall_type=kind, host="proxy.test", user="u", password="p")
        firewall.port = 0  # port 0 still means the type's default
        assert select_proxy("mail.test", firewall, []) == ProxySettings(
            kind, "proxy.test", port, "u", "p")


def test_firewall_type_without_host_is_an_input_error():
    with pytest.raises(SMTPInputError, match="FirewallHost"):
        select_proxy("mail.test", Firewall(firewall_type=FirewallType.SOCKS5), [])


def test_unknown_firewall_type_is_an_input_error():
    class Odd:
        firewall_type, host, port, user, password, auto_detect = 7, "p.test", 1, "", "", False

    with pytest.raises(SMTPInputError, match="FirewallType"):
        select_proxy("mail.test", Odd(), [])


@pytest.mark.parametrize("environ, expected", [
    ({"ALL_PROXY": "socks5://u:p%40ss@proxy.test:1081"},
     ProxySettings(FirewallType.SOCKS5, "proxy.test", 1081, "u", "p@ss", "ALL_PROXY")),
    ({"all_proxy": "socks4a://a.test", "ALL_PROXY": "socks5://b.test"},
     ProxySettings(FirewallType.SOCKS4A, "a.test", 1080, source="all_proxy")),
    ({"SOCKS_PROXY": "s.test:9050", "HTTPS_PROXY": "http://h.test:3128"},
     ProxySettings(FirewallType.SOCKS5, "s.test", 9050, source="SOCKS_PROXY")),
    ({"HTTPS_PROXY": "http://h.test:3128", "http_proxy": "http://p.test"},
     ProxySettings(FirewallType.TUNNEL, "h.test", 3128, source="HTTPS_PROXY")),
    ({"http_proxy": "p.test"}, ProxySettings(FirewallType.TUNNEL, "p.test", 80,
                                             source="http_proxy")),
    ({"HTTP_PROXY": "socks4://p.test:1"}, ProxySettings(FirewallType.SOCKS4, "p.test", 1,
                                                        source="HTTP_PROXY")),
    ({"HTTP_PROXY": "http://evil.test", "REQUEST_METHOD": "GET"}, None),  # httpoxy
    ({"socks_proxy": "socks5h://[::1]:1080"},
     ProxySettings(FirewallType.SOCKS5, "::1", 1080, source="socks_proxy")),
    ({}, None),
])
def test_auto_detect_precedence(environ, expected):
    assert select_proxy("mail.test", AUTO, [], environ) == expected


def test_auto_detect_without_variables_falls_back_to_the_fields():
    firewall = Firewall(auto_detect=True, firewall_type=FirewallType.SOCKS4, host="f.test")
    assert select_proxy("mail.test", firewall, [], {}).host == "f.test"
    assert select_proxy("mail.test", firewall, [], {"ALL_PROXY": "socks5://e.test"}
                        ).host == "e.test"


def test_auto_detect_off_ignores_the_environment():
    assert select_proxy("mail.test", Firewall(), [], {"ALL_PROXY": "socks5://e.test"}) is None


def test_https_proxy_url_is_not_implemented():
    with pytest.raises(NotImplementedError, match="https"):
        parse_proxy_url("https://proxy.test:443")


@pytest.mark.parametrize("url", ["ftp://proxy.test", "socks5://:1080", "http://p.test:99999"])
def test_bad_proxy_urls(url):
    with pytest.raises(SMTPInputError):
        parse_proxy_url(url)


@pytest.mark.parametrize("host, patterns, expected", [
    ("mail.example.com", ["*.example.com"], True),
    ("example.com", ["*.example.com"], False),
    ("MAIL.Example.COM.", ["mail.example.com"], True),
    ("mail.example.com", ["www.google.com", "www.nsoftware.com"], False),
    ("mail.example.com", [".example.com"], True),
    ("example.com", [".example.com"], True),
    ("badexample.com", [".example.com"], False),
    ("10.1.2.3", ["10.0.0.0/8"], True),
    ("10.1.2.3", ["10.1.2.3"], True),
    ("10.1.2.3", ["10.1.2.*"], True),
    ("11.1.2.3", ["10.0.0.0/8"], False),
    ("::1", ["::1"], True),
    ("mail.test", ["*"], True),
    ("mail.test", ["", " "], False),
])
def test_exception_patterns(host, patterns, expected):
    assert bypasses_proxy(host, patterns) is expected


def test_no_proxy_domains_cover_subdomains():
    patterns = no_proxy_patterns({"NO_PROXY": "example.com, .other.test,10.0.0.0/8"})
    assert bypasses_proxy("a.example.com", patterns)
    assert bypasses_proxy("example.com", patterns)
    assert not bypasses_proxy("notexample.com", patterns)
    assert bypasses_proxy("x.other.test", patterns)
    assert bypasses_proxy("10.9.9.9", patterns)
    assert no_proxy_patterns({"no_proxy": "a.test", "NO_PROXY": "b.test"})[0] == "a.test"


def test_exceptions_bypass_the_firewall_fields():
    firewall = Firewall(firewall_type=FirewallType.SOCKS5, host="proxy.test")
    assert select_proxy("mail.example.com", firewall, ["*.example.com"]) is None
    assert select_proxy("mail.other.test", firewall, ["*.example.com"]) is not None


def test_no_proxy_applies_to_detected_proxies():
    environ = {"ALL_PROXY": "socks5://e.test", "NO_PROXY": "example.com"}
    assert select_proxy("smtp.example.com", AUTO, [], environ) is None
    assert select_proxy("smtp.other.test", AUTO, [], environ) is not None


# ---------------------------------------------------------------- end to end, real sockets

@pytest.fixture
def clean_environment(monkeypatch):
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.proxy
def test_auto_detect_connects_through_the_detected_proxy(clean_environment, socks_proxy,
                                                         greeting_server, status_log):
    clean_environment.setenv("ALL_PROXY", f"socks5h://{socks_proxy.host}:{socks_proxy.port}")
    options = ConnectOptions(firewall=Firewall(auto_detect=True), connection_timeout=10)
    with open_connection("127.0.0.1", greeting_server.port, options, status_log) as sock:
        sock.settimeout(10)
        assert recv_line(sock) == GREETING
    assert [event for event, _, _ in status_log.events] == [FIREWALL_CONNECTED,
                                                            REMOTE_CONNECTED]


def test_excepted_host_connects_directly(clean_environment, greeting_server, status_log):
    # the firewall named here does not exist: only a direct connection can succeed
    clean_environment.setenv("ALL_PROXY", "socks5://127.0.0.1:1")
    clean_environment.setenv("NO_PROXY", "localhost,127.0.0.1")
    options = ConnectOptions(firewall=Firewall(auto_detect=True), connection_timeout=10)
    with open_connection("127.0.0.1", greeting_server.port, options, status_log) as sock:
        sock.settimeout(10)
        assert recv_line(sock) == GREETING
    assert [event for event, _, _ in status_log.events] == [REMOTE_CONNECTED]


def test_proxy_exceptions_list_connects_directly(greeting_server):
    firewall = Firewall(firewall_type=FirewallType.SOCKS5, host="127.0.0.1", port=1)
    options = ConnectOptions(firewall=firewall, proxy_exceptions=["127.0.0.*"],
                             connection_timeout=10)
    with open_connection("*127.0.0.1", greeting_server.port, options) as sock:
        sock.settimeout(10)
        assert recv_line(sock) == GREETING


def test_parse_exceptions_list():
    assert parse_exceptions_list("www.google.com;www.nsoftware.com") == ["www.google.com",
                                                                          "www.nsoftware.com"]
    assert parse_exceptions_list(" *.example.com ; ;10.0.0.0/8;") == ["*.example.com",
                                                                       "10.0.0.0/8"]
    assert parse_exceptions_list("") == []


def test_star_host_with_auto_detect_but_no_proxy_found_is_an_input_error(clean_environment,
                                                                          greeting_server):
    options = ConnectOptions(firewall=Firewall(auto_detect=True))
    with pytest.raises(SMTPInputError, match="firewall"):
        open_connection("*localhost", greeting_server.port, options)
    assert greeting_server.peers == []
