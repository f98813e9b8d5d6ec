"""Firewall (proxy) selection and handshakes: SOCKS4, SOCKS4A, SOCKS5 and HTTP CONNECT.

Which firewall is used
----------------------
1. When ``Firewall.auto_detect`` (FirewallAutoDetect) is on, the environment is read; the first
   variable set wins, in this order (lower case before upper case, as curl and urllib do):
   ``all_proxy``/``ALL_PROXY``, ``socks_proxy``/``SOCKS_PROXY``, ``https_proxy``/
   ``HTTPS_PROXY``, ``http_proxy``/``HTTP_PROXY``. Upper-case ``HTTP_PROXY`` is ignored when
   ``REQUEST_METHOD`` is set (a CGI environment, where a client's "Proxy:" header can set it).
   Values are URLs: ``socks4://``, ``socks4a://``, ``socks5://`` / ``socks5h://`` (SOCKS5;
   the firewall always resolves names), ``http://`` (a tunnel); ``user:password@`` gives the
   credentials. Without a scheme, ``socks_proxy`` means SOCKS5 and the others HTTP.
   ``https://`` (TLS to the proxy itself) is not implemented. ``no_proxy``/``NO_PROXY``
   (comma separated; ``example.com`` also covers its subdomains, ``*`` covers everything,
   IPs and CIDR networks are allowed) adds exceptions.
2. Otherwise (or when nothing is set) the Firewall fields are used: ``firewall_type`` 0 means
   no firewall; ``port`` 0 means the reference's default (80 for a tunnel, 1080 for SOCKS).
3. ProxyExceptionsList (``proxy_exceptions``: host names, ``*`` / ``?`` wildcards such as
   ``*.example.com``, IP addresses, CIDR networks) names hosts reached directly. Only the
   host as given to MailServer is matched, never its resolved address.

Handshakes
----------
SOCKS4/4A/5 use python-socks over the socket smtpx opened (so LocalHost, UseIPv6 and the
socket options also apply to the firewall leg): python-socks' sync ``Proxy`` reaches its proxy
through a ``forward`` object's ``connect()``, and we hand it the ready socket that way.

HTTP CONNECT is done here, not with python-socks 3.2.1, whose connector takes one ``recv()``
as the whole reply: it drops bytes that follow the headers in the same segment (the mail
server's greeting — tinyproxy sends both together), leaves the rest of headers split over
segments in the stream, and reads the status code with ``int()``. This reader takes exactly
the header block (peeking, so tunnel bytes stay in the socket), checks the status line
strictly, refuses control characters in headers and caps their size and number.
"""
from __future__ import annotations

import base64
import fnmatch
import inspect
import ipaddress
import os
import re
import socket
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import unquote, urlsplit

from smtpx.enums import FirewallType
from smtpx.errors import SMTPFirewallError, SMTPInputError

DEFAULT_PORTS = {FirewallType.TUNNEL: 80, FirewallType.SOCKS4: 1080,
                 FirewallType.SOCKS5: 1080, FirewallType.SOCKS4A: 1080}
LABELS = {FirewallType.TUNNEL: "HTTP tunnel", FirewallType.SOCKS4: "SOCKS4",
          FirewallType.SOCKS5: "SOCKS5", FirewallType.SOCKS4A: "SOCKS4A"}

ENVIRONMENT_VARIABLES = (("all_proxy", "ALL_PROXY"), ("socks_proxy", "SOCKS_PROXY"),
                         ("https_proxy", "HTTPS_PROXY"), ("http_proxy", "HTTP_PROXY"))
_SCHEMES = {"http": FirewallType.TUNNEL, "socks4": FirewallType.SOCKS4,
            "socks4a": FirewallType.SOCKS4A, "socks5": FirewallType.SOCKS5,
            "socks5h": FirewallType.SOCKS5, "socks": FirewallType.SOCKS5}

MAX_HEADER_BYTES = 16384
MAX_HEADER_LINES = 100


@dataclass(frozen=True)
class ProxySettings:
    kind: FirewallType
    host: str
    port: int
    user: str = ""
    password: str = ""
    source: str = "Firewall"  # where the settings came from, for error messages

    @property
    def label(self) -> str:
        return LABELS[self.kind]


# ---------------------------------------------------------------- selection

def firewall_configured(firewall: Any, environ: Mapping[str, str] | None = None) -> bool:
    """True when a firewall would be used for a host that is not an exception."""
    if firewall is None:
        return False
    if int(getattr(firewall, "firewall_type", 0) or 0) != 0:
        return True
    if getattr(firewall, "auto_detect", False):
        return proxy_from_environment(os.environ if environ is None else environ) is not None
    return False


def select_proxy(host: str, firewall: Any, exceptions: list[str] | None,
                 environ: Mapping[str, str] | None = None) -> ProxySettings | None:
    """The firewall to reach ``host`` through, or None for a direct connection."""
    if firewall is None:
        return None
    patterns = list(exceptions or [])
    settings = None
    if getattr(firewall, "auto_detect", False):
        env = os.environ if environ is None else environ
        settings = proxy_from_environment(env)
        if settings is not None:
            patterns += no_proxy_patterns(env)
    if settings is None:
        settings = proxy_from_firewall(firewall)
    if settings is None or bypasses_proxy(host, patterns):
        return None
    return settings


def proxy_from_firewall(firewall: Any) -> ProxySettings | None:
    raw_type = int(getattr(firewall, "firewall_type", 0) or 0)
    if raw_type == 0:
        return None
    try:
        kind = FirewallType(raw_type)
    except ValueError:
        raise SMTPInputError(f"unknown FirewallType {raw_type} (use 0, 1, 2, 3 or 10)") from None
    host = str(getattr(firewall, "host", "") or "")
    if not host:
        raise SMTPInputError(f"FirewallType is {LABELS[kind]} but FirewallHost is empty")
    port = int(getattr(firewall, "port", 0) or 0) or DEFAULT_PORTS[kind]
    if not 0 < port < 65536:
        raise SMTPInputError(f"FirewallPort must be from 1 to 65535, not {port}")
    return ProxySettings(kind, host, port, str(getattr(firewall, "user", "") or ""),
                         str(getattr(firewall, "password", "") or ""))


def proxy_from_environment(environ: Mapping[str, str]) -> ProxySettings | None:
    for names in ENVIRONMENT_VARIABLES:
        for name in names:
            if name == "HTTP_PROXY" and "REQUEST_METHOD" in environ:
                continue  # "httpoxy": in CGI a request header can set HTTP_PROXY
            value = (environ.get(name) or "").strip()
            if value:
                default = "socks5" if names[0] == "socks_proxy" else "http"
                return parse_proxy_url(value, default, source=name)
    return None


def parse_proxy_url(url: str, default_scheme: str = "http", source: str = "") -> ProxySettings:
    where = f" (from {source})" if source else ""
    if "://" not in url:
        url = f"{default_scheme}://{url}"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https":
        raise NotImplementedError(f"proxy {url!r}{where}: TLS to the proxy itself (https://) is "
                                  "not implemented; use an http:// or socks5:// proxy")
    if scheme not in _SCHEMES:
        raise SMTPInputError(f"proxy {url!r}{where}: unsupported scheme {scheme!r}")
    kind = _SCHEMES[scheme]
    try:
        port = parts.port or DEFAULT_PORTS[kind]
    except ValueError:
        raise SMTPInputError(f"proxy {url!r}{where}: invalid port") from None
    if not parts.hostname:
        raise SMTPInputError(f"proxy {url!r}{where}: no host")
    return ProxySettings(kind, parts.hostname, port, unquote(parts.username or ""),
                         unquote(parts.password or ""), source or "Firewall")


def no_proxy_patterns(environ: Mapping[str, str]) -> list[str]:
    value = environ.get("no_proxy") or environ.get("NO_PROXY") or ""
    patterns = []
    for entry in re.split(r"[,\s]+", value):
        entry = entry.strip().lower()
        if not entry:
            continue
        patterns.append(entry)
        if entry != "*" and not entry.startswith((".", "*")) and not _is_ip_or_network(entry):
            patterns.append("*." + entry)  # no_proxy domains cover their subdomains
    return patterns


def parse_exceptions_list(text: str) -> list[str]:
    """ProxyExceptionsList ("www.google.com;*.example.com;10.0.0.0/8") as a list."""
    return [entry.strip() for entry in (text or "").split(";") if entry.strip()]


def bypasses_proxy(host: str, patterns: list[str]) -> bool:
    """True when ``host`` matches one of the exception patterns."""
    name = host.strip().lower().rstrip(".")
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    for raw in patterns:
        pattern = raw.strip().lower().rstrip(".")
        if not pattern:
            continue
        if pattern == "*":
            return True
        if _is_ip_or_network(pattern):
            if address is not None and address in ipaddress.ip_network(pattern, strict=False):
                return True
            continue
        if pattern.startswith("."):
            if name.endswith(pattern) or name == pattern[1:]:
                return True
        elif fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def _is_ip_or_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------- handshakes

def check_credentials(settings: ProxySettings) -> None:
    """Refuse credentials the protocol cannot carry, before anything is sent."""
    user, password = settings.user, settings.password
    if settings.kind == FirewallType.SOCKS5 and (user or password):
        for what, value in (("FirewallUser", user), ("FirewallPassword", password)):
            # RFC 1929: 1-255 bytes each; python-socks encodes them as ASCII
            if not value.isascii() or not 0 < len(value) <= 255:
                raise SMTPInputError(f"{what} must be 1 to 255 ASCII characters for SOCKS5 "
                                     "username/password authentication")
    if settings.kind in (FirewallType.SOCKS4, FirewallType.SOCKS4A):
        if not user.isascii() or "\0" in user or len(user) > 255:
            raise SMTPInputError("FirewallUser must be ASCII without NUL for SOCKS4 (user id)")
    if settings.kind == FirewallType.TUNNEL:
        if ":" in user:
            raise SMTPInputError("FirewallUser cannot contain ':' for HTTP Basic authentication")
        if _has_control(user) or _has_control(password):
            raise SMTPInputError("FirewallUser / FirewallPassword contain control characters")


def handshake(sock: socket.socket, settings: ProxySettings, dest_host: str, dest_port: int,
              remaining: Callable[[], float | None], extra_headers: str = "") -> None:
    """Ask the firewall on ``sock`` for a tunnel to ``dest_host:dest_port``.
    ``remaining()`` gives the time left (None = no limit) and raises socket.timeout when
    none is. Raises SMTPFirewallError; on error the caller closes the socket."""
    where = f"{settings.label} firewall {settings.host}:{settings.port}"
    target = f"{dest_host}:{dest_port}"
    try:
        if settings.kind == FirewallType.TUNNEL:
            _http_connect(sock, settings, dest_host, dest_port, remaining, extra_headers)
        else:
            _socks_connect(sock, settings, dest_host, dest_port, remaining)
    except (SMTPInputError, NotImplementedError):
        raise
    except SMTPFirewallError as exc:
        exc.description = f"{where} could not open a tunnel to {target}: {exc.description}"
        exc.args = (f"[{exc.code}] {exc.description}",)
        raise
    except (socket.timeout, TimeoutError) as exc:
        raise SMTPFirewallError(f"{where} did not complete the handshake for {target} in time",
                                socket_code=10060) from exc
    except Exception as exc:  # python-socks raises ProxyError and, on odd replies, anything
        raise SMTPFirewallError(f"{where} could not open a tunnel to {target}: "
                                f"{_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if exc.__cause__ is not None and str(exc.__cause__) and str(exc.__cause__) != text:
        text = f"{text} ({exc.__cause__})"
    return text


class _ReadySocket:
    """Stands in for python-socks' ``forward`` proxy: returns the socket we connected."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def connect(self, dest_host: str, dest_port: int, timeout: float | None = None,
                **kwargs: Any) -> socket.socket:
        return self._sock


def _socks_connect(sock: socket.socket, settings: ProxySettings, dest_host: str,
                   dest_port: int, remaining: Callable[[], float | None]) -> None:
    from python_socks import ProxyTimeoutError, ProxyType
    from python_socks.sync import Proxy

    if settings.kind == FirewallType.SOCKS5:
        proxy_type, rdns = ProxyType.SOCKS5, True
    else:
        proxy_type, rdns = ProxyType.SOCKS4, settings.kind == FirewallType.SOCKS4A
    if "forward" not in inspect.signature(Proxy.__init__).parameters:
        raise RuntimeError("this python-socks has no 'forward' parameter on its sync Proxy; "
                           "smtpx needs python-socks >= 3.2")
    proxy = Proxy(proxy_type, settings.host, settings.port,
                  username=settings.user or None, password=settings.password or None,
                  rdns=rdns, forward=_ReadySocket(sock))  # type: ignore[arg-type]
    sock.settimeout(remaining())
    try:
        returned = proxy.connect(dest_host, dest_port, timeout=sock.gettimeout())
    except ProxyTimeoutError as exc:
        raise socket.timeout("timed out") from exc
    if returned is not sock:  # the seam above no longer works in this python-socks
        raise RuntimeError("python-socks did not use the socket smtpx connected")


_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: ([\x20-\x7e\t]*))?\r?\n\Z")
_HEADER_LINE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\x20-\x7e\t\x80-\xff]*\r?\n\Z")


def _http_connect(sock: socket.socket, settings: ProxySettings, dest_host: str,
                  dest_port: int, remaining: Callable[[], float | None],
                  extra_headers: str) -> None:
    sock.settimeout(remaining())
    sock.sendall(build_connect_request(settings, dest_host, dest_port, extra_headers))
    lines = read_header_block(sock, remaining)
    status = _STATUS_LINE.match(lines[0]) if lines else None
    if status is None:
        raise SMTPFirewallError(f"malformed HTTP status line {_show(lines[0] if lines else b'')}")
    code = int(status.group(1))
    reason = (status.group(2) or b"").decode("ascii", "replace").strip()
    for line in lines[1:]:
        if not _HEADER_LINE.match(line):
            raise SMTPFirewallError(f"malformed header line {_show(line)} in the reply "
                                    f"{code} {reason}", proxy_status=code)
    if code == 407:
        raise SMTPFirewallError(f"proxy authentication required (407 {reason})"
                                + (" - the credentials were refused" if settings.user else ""),
                                proxy_status=code)
    if not 200 <= code < 300:
        raise SMTPFirewallError(f"HTTP {code} {reason}", proxy_status=code)


def check_firewall_data(extra_headers: str) -> list[str]:
    """FirewallData as extra CONNECT header lines; refuse anything that is not a header."""
    lines = []
    for line in (extra_headers or "").replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        if _has_control(line) or not _HEADER_LINE.match(line.encode("utf-8") + b"\n"):
            raise SMTPInputError(f"FirewallData line {line!r} is not a valid 'Name: value' "
                                 "header")
        lines.append(line)
    return lines


def build_connect_request(settings: ProxySettings, dest_host: str, dest_port: int,
                          extra_headers: str = "") -> bytes:
    authority = f"[{dest_host}]:{dest_port}" if ":" in dest_host else f"{dest_host}:{dest_port}"
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    if settings.user or settings.password:
        token = base64.b64encode(f"{settings.user}:{settings.password}".encode("utf-8"))
        lines.append(f"Proxy-Authorization: Basic {token.decode('ascii')}")
    lines += check_firewall_data(extra_headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def read_header_block(sock: socket.socket, remaining: Callable[[], float | None]) -> list[bytes]:
    """Read the reply's status line and headers, up to the empty line, and not one byte
    more: what follows belongs to the tunnel. Returns the lines with their line ends."""
    block = bytearray()
    while True:
        sock.settimeout(remaining())
        peeked = sock.recv(MAX_HEADER_BYTES + 1 - len(block), socket.MSG_PEEK)
        if not peeked:
            raise SMTPFirewallError("the connection was closed during the handshake"
                                    + (f" after {_show(bytes(block))}" if block else ""))
        end = _end_of_headers(bytes(block), peeked)
        take = len(peeked) if end is None else end - len(block)
        block += _recv_exactly(sock, take)
        if end is not None:
            break
        if len(block) > MAX_HEADER_BYTES or block.count(b"\n") > MAX_HEADER_LINES:
            raise SMTPFirewallError(f"the reply headers exceed {MAX_HEADER_BYTES} bytes or "
                                    f"{MAX_HEADER_LINES} lines")
    lines = bytes(block).splitlines(keepends=True)[:-1]  # drop the empty line
    if len(block) > MAX_HEADER_BYTES or len(lines) > MAX_HEADER_LINES:
        raise SMTPFirewallError(f"the reply headers exceed {MAX_HEADER_BYTES} bytes or "
                                f"{MAX_HEADER_LINES} lines")
    if b"\0" in block:
        raise SMTPFirewallError("the reply contains a NUL byte")
    return lines


def _end_of_headers(consumed: bytes, peeked: bytes) -> int | None:
    """Offset just past the empty line that ends the headers in consumed + peeked."""
    data = consumed + peeked
    start = max(0, len(consumed) - 3)  # the line end may straddle the two parts
    ends = [i + len(sep) for sep in (b"\n\r\n", b"\n\n")
            if (i := data.find(sep, start)) != -1]
    if data.startswith(b"\r\n"):
        ends.append(2)  # an empty status line: reported as malformed by the caller
    elif data.startswith(b"\n"):
        ends.append(1)
    return min(ends) if ends else None


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise SMTPFirewallError("the connection was closed during the handshake")
        data += chunk
    return bytes(data)


def _has_control(text: str) -> bool:
    return any(ord(ch) < 32 and ch != "\t" or ord(ch) == 127 for ch in text)


def _show(data: bytes, limit: int = 80) -> str:
    text = repr(data[:limit])
    return text + ("..." if len(data) > limit else "")
