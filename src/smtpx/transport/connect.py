"""Open the TCP connection to the mail server: resolve, pick IPv4/IPv6, bind, set socket
options, and go through a firewall (proxy) when one is configured.

``open_connection`` returns a connected *blocking* socket (no timeout set); the stream sets its
own timeouts. Every failure is a typed error:

- ``SMTPInputError``: the request cannot be carried out as asked (``*host`` with no firewall or
  with SOCKS4, a bad port, SOCKS credentials that do not fit the protocol). Nothing was sent.
- ``SMTPConnectError``: the direct connection failed; ``code`` is the reference's TCP/IP error
  (11001 host not found, 10061 refused, 10060 timed out, 10048 address in use, ...).
- ``SMTPFirewallError`` (118): the firewall could not be reached or refused / broke the
  handshake; ``socket_code`` holds the TCP/IP code when a socket error was the cause. Nothing
  reached the mail server through it.

Socket settings (names of the reference's config settings):

- LocalHost / LocalPort: bound before connecting (to the firewall when there is one).
  A fixed LocalPort sets SO_REUSEADDR so that a reconnect is not refused while the previous
  connection on that port sits in TIME_WAIT.
- UseIPv6: 0 IPv4 only, 1 IPv6 only, 2 IPv6 first then IPv4.
- TCPKeepAlive + KeepAliveTime / KeepAliveInterval (ms, rounded up to whole seconds, the
  unit of TCP_KEEPIDLE / TCP_KEEPINTVL; 0 keeps the system default).
- Linger / LingerTime: Linger True and LingerTime 0 is the normal close (the system sends what
  is pending in the background); Linger True and LingerTime N > 0 sets SO_LINGER to N seconds
  (send pending data for up to N seconds, then reset); Linger False sets SO_LINGER to 0, an
  immediate close that resets the connection.
- TcpNoDelay: TCP_NODELAY. InBufferSize / OutBufferSize: SO_RCVBUF / SO_SNDBUF (0 = default),
  set before connecting so the TCP window is negotiated with them.
- ConnectionTimeout (seconds, 0 = none) bounds the whole connect, firewall handshake included.

A host that matches ProxyExceptionsList / NO_PROXY is reached directly; a ``*host`` there is
resolved locally. Firewall selection and handshakes live in ``transport/proxy.py``.
"""
from __future__ import annotations

import errno
import ipaddress
import math
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from smtpx.enums import FirewallType
from smtpx.errors import SMTPConnectError, SMTPConnectTimeoutError, SMTPFirewallError, SMTPInputError
from smtpx.transport import proxy as _proxy

StatusCallback = Callable[[str, int, str], None]

FIREWALL_CONNECTED = "Firewall connection complete"
REMOTE_CONNECTED = "Remote host connection complete"

IPV4_ONLY, IPV6_ONLY, IPV6_FIRST = 0, 1, 2


@dataclass
class ConnectOptions:
    """The socket-level settings of one connection (see the module docstring)."""

    connection_timeout: float = 0  # seconds, 0 = no limit
    local_host: str = ""
    local_port: int = 0
    use_ipv6: int = IPV4_ONLY
    tcp_keepalive: bool = False
    keepalive_time_ms: int = 0
    keepalive_interval_ms: int = 0
    linger: bool = True
    linger_time: int = 0
    tcp_nodelay: bool = False
    in_buffer_size: int = 0
    out_buffer_size: int = 0
    firewall: Any = None  # smtpx.types.Firewall or any object with the same fields
    proxy_exceptions: list[str] = field(default_factory=list)
    firewall_listener: bool = False
    firewall_data: str = ""  # extra header lines for an HTTP tunnel (fwTunnel)


# The reference's TCP/IP error codes are the Winsock numbers; map by errno *name* because
# Linux, BSD and Windows number errno differently.
_ERRNO_NAME_TO_CODE = {
    "EINTR": 10004, "EBADF": 10009, "EACCES": 10013, "EFAULT": 10014, "EINVAL": 10022,
    "EMFILE": 10024, "EWOULDBLOCK": 10035, "EAGAIN": 10035, "EINPROGRESS": 10036,
    "EALREADY": 10037, "ENOTSOCK": 10038, "EDESTADDRREQ": 10039, "EMSGSIZE": 10040,
    "EPROTOTYPE": 10041, "ENOPROTOOPT": 10042, "EPROTONOSUPPORT": 10043,
    "ESOCKTNOSUPPORT": 10044, "EOPNOTSUPP": 10045, "EPFNOSUPPORT": 10046,
    "EAFNOSUPPORT": 10047, "EADDRINUSE": 10048, "EADDRNOTAVAIL": 10049, "ENETDOWN": 10050,
    "ENETUNREACH": 10051, "ENETRESET": 10052, "ECONNABORTED": 10053, "ECONNRESET": 10054,
    "ENOBUFS": 10055, "EISCONN": 10056, "ENOTCONN": 10057, "ESHUTDOWN": 10058,
    "ETOOMANYREFS": 10059, "ETIMEDOUT": 10060, "ECONNREFUSED": 10061, "ELOOP": 10062,
    "ENAMETOOLONG": 10063, "EHOSTDOWN": 10064, "EHOSTUNREACH": 10065, "ENOTEMPTY": 10066,
    "EUSERS": 10068, "EDQUOT": 10069, "ESTALE": 10070, "EREMOTE": 10071,
}
_ERRNO_TO_CODE = {
    getattr(errno, name): code for name, code in _ERRNO_NAME_TO_CODE.items() if hasattr(errno, name)
}
_GAI_TO_CODE = {
    getattr(socket, name): code
    for name, code in (("EAI_NONAME", 11001), ("EAI_NODATA", 11001), ("EAI_ADDRFAMILY", 11001),
                       ("EAI_AGAIN", 11002), ("EAI_FAIL", 11003))
    if hasattr(socket, name)
}
CODE_TEXT = {
    10013: "Access denied", 10022: "Invalid argument", 10024: "Too many open files",
    10048: "Address already in use", 10049: "Cannot assign requested address",
    10050: "Network is down", 10051: "Network is unreachable",
    10053: "Software caused connection abort", 10054: "Connection reset by peer",
    10055: "No buffer space available", 10060: "Connection timed out",
    10061: "Connection refused", 10064: "Host is down", 10065: "No route to host",
    11001: "Host not found", 11002: "Host not found (temporary DNS failure, try again)",
    11003: "Host not found (non-recoverable DNS error)",
}
UNMAPPED_CODE = 162  # "Error communicating with server"


def socket_error_code(exc: OSError) -> int:
    """The reference's code for a socket / resolver error."""
    if isinstance(exc, socket.gaierror):
        return _GAI_TO_CODE.get(exc.errno, 11001)
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return 10060
    return _ERRNO_TO_CODE.get(exc.errno, UNMAPPED_CODE)


def describe_socket_error(exc: OSError) -> str:
    """"[code] text" for an error reported under another code (a firewall error)."""
    return f"[{socket_error_code(exc)}] {_code_text(exc)}"


def _code_text(exc: OSError) -> str:
    return (CODE_TEXT.get(socket_error_code(exc)) or exc.strerror or str(exc)
            or type(exc).__name__)


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _family_hint(name: str, options: ConnectOptions) -> str:
    try:
        version = ipaddress.ip_address(name).version
    except ValueError:
        return ""
    if options.use_ipv6 == IPV4_ONLY and version == 6:
        return " (UseIPv6 is 0: IPv4 only)"
    if options.use_ipv6 == IPV6_ONLY and version == 4:
        return " (UseIPv6 is 1: IPv6 only)"
    return ""


class _Deadline:
    """ConnectionTimeout spread over every step of the connect (0 = none)."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds if seconds and seconds > 0 else None

    def remaining(self) -> float | None:
        if self._end is None:
            return None
        left = self._end - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        return left


def open_connection(host: str, port: int, options: ConnectOptions | None = None,
                    on_status: StatusCallback | None = None) -> socket.socket:
    """Connect to ``host:port`` (through the configured firewall, if any) and return a
    connected blocking socket. ``host`` starting with ``*`` is passed unresolved to the firewall.
    ``on_status(event, code, description)`` fires after each leg is connected."""
    options = options if options is not None else ConnectOptions()
    status = on_status or (lambda event, code, description: None)
    _check_options(options)
    if options.firewall_listener:
        raise NotImplementedError(
            "FirewallListener (binding as a server at a SOCKS firewall) does not apply to an "
            "SMTP client, which only opens outgoing connections; set it to False")
    name, remote_dns = _split_host(host)
    _check_port(port, "port")
    settings = _proxy.select_proxy(name, options.firewall, options.proxy_exceptions)
    deadline = _Deadline(options.connection_timeout)

    if settings is None:
        if remote_dns and not _proxy.firewall_configured(options.firewall):
            raise SMTPInputError(
                f"host {host!r}: the '*' prefix asks the firewall to resolve the name, but no "
                "firewall is configured (FirewallType is fwNone)")
        sock = _connect_or_raise(name, port, options, deadline)
        try:
            status(REMOTE_CONNECTED, 0, f"Connected to {_peer(sock)}")
        except BaseException:
            sock.close()
            raise
        return _finish(sock)

    if options.firewall_data and settings.kind != FirewallType.TUNNEL:
        raise SMTPInputError("FirewallData is sent only to a tunneling (HTTP CONNECT) firewall")
    _proxy.check_credentials(settings)
    _proxy.check_firewall_data(options.firewall_data)
    dest = _destination_for(settings, name, port, options, remote_dns)
    sock = _connect_to_firewall(settings, options, deadline)
    try:
        status(FIREWALL_CONNECTED, 0,
               f"Connected to {settings.label} firewall at {_peer(sock)}")
        _proxy.handshake(sock, settings, dest, port, deadline.remaining,
                         extra_headers=options.firewall_data)
        status(REMOTE_CONNECTED, 0,
               f"Connected to {dest}:{port} through {settings.label} firewall "
               f"{settings.host}:{settings.port}")
    except BaseException:
        sock.close()
        raise
    return _finish(sock)


def _finish(sock: socket.socket) -> socket.socket:
    sock.settimeout(None)
    return sock


def _peer(sock: socket.socket) -> str:
    try:
        address = sock.getpeername()
    except OSError:  # the peer may already have reset the connection
        return "the remote host"
    return _host_port(address[0], address[1])


def _split_host(host: str) -> tuple[str, bool]:
    if not isinstance(host, str):
        raise SMTPInputError(f"host must be a string, not {type(host).__name__}")
    remote_dns = host.startswith("*")
    name = host[1:] if remote_dns else host
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if not name:
        raise SMTPInputError("no host name given (MailServer is empty)", 163)
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in name) or len(name) > 255:
        raise SMTPInputError(f"invalid host name {host!r}")
    return name, remote_dns


def _check_port(port: Any, what: str) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise SMTPInputError(f"{what} must be an integer from 1 to 65535, not {port!r}", 116)


def _check_options(options: ConnectOptions) -> None:
    if options.use_ipv6 not in (IPV4_ONLY, IPV6_ONLY, IPV6_FIRST):
        raise SMTPInputError(f"UseIPv6 must be 0, 1 or 2, not {options.use_ipv6!r}")
    for name in ("local_port", "keepalive_time_ms", "keepalive_interval_ms", "linger_time",
                 "in_buffer_size", "out_buffer_size"):
        value = getattr(options, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SMTPInputError(f"{name} must be a non-negative integer, not {value!r}")
    if options.local_port > 65535:
        raise SMTPInputError(f"local_port must be at most 65535, not {options.local_port}")
    if options.connection_timeout is None or options.connection_timeout < 0:
        raise SMTPInputError("connection_timeout must be >= 0 (0 = no limit)")


def _destination_for(settings: _proxy.ProxySettings, name: str, port: int,
                     options: ConnectOptions, remote_dns: bool) -> str:
    """What to ask the firewall to connect to. SOCKS4 carries only an IPv4 address, so the
    name is resolved here; the other kinds carry the name and the firewall resolves it."""
    if settings.kind != FirewallType.SOCKS4:
        return name
    if remote_dns:
        raise SMTPInputError(
            f"host '*{name}' asks the firewall to resolve the name, but a SOCKS4 firewall "
            "cannot carry names: use fwSOCKS4A or fwSOCKS5")
    if options.use_ipv6 == IPV6_ONLY:
        raise SMTPInputError("UseIPv6=1 (IPv6 only) cannot be used with a SOCKS4 firewall, "
                             "which carries IPv4 addresses only")
    try:
        infos = socket.getaddrinfo(name, port, socket.AF_INET, socket.SOCK_STREAM)
    except OSError as exc:
        raise SMTPConnectError(f"{_code_text(exc)}: cannot resolve {name!r} to an "
                               "IPv4 address for the SOCKS4 firewall",
                               socket_error_code(exc)) from exc
    return str(infos[0][4][0])


def _connect_to_firewall(settings: _proxy.ProxySettings, options: ConnectOptions,
                         deadline: _Deadline) -> socket.socket:
    try:
        return _connect_tcp(settings.host, settings.port, options, deadline)
    except OSError as exc:
        code = socket_error_code(exc)
        raise SMTPFirewallError(
            f"could not connect to {settings.label} firewall "
            f"{_host_port(settings.host, settings.port)}: "
            f"{describe_socket_error(exc)}{_family_hint(settings.host, options)}",
            socket_code=code) from exc


def _connect_or_raise(name: str, port: int, options: ConnectOptions,
                      deadline: _Deadline) -> socket.socket:
    try:
        return _connect_tcp(name, port, options, deadline)
    except OSError as exc:
        code = socket_error_code(exc)
        where = _host_port(name, port) + _family_hint(name, options)
        # A ConnectionError; a TimeoutError too when it timed out. errno: the socket's, if any.
        kind = SMTPConnectTimeoutError if code == 10060 else SMTPConnectError
        raise kind(f"{_code_text(exc)}: could not connect to {where}", code,
                   socket_code=code, errno=exc.errno) from exc


def _resolve(host: str, port: int, use_ipv6: int) -> list[tuple[Any, ...]]:
    family = {IPV4_ONLY: socket.AF_INET, IPV6_ONLY: socket.AF_INET6}.get(use_ipv6,
                                                                         socket.AF_UNSPEC)
    infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if use_ipv6 == IPV6_FIRST:
        infos.sort(key=lambda info: 0 if info[0] == socket.AF_INET6 else 1)  # stable sort
    return infos


def _connect_tcp(host: str, port: int, options: ConnectOptions,
                 deadline: _Deadline) -> socket.socket:
    """Try each resolved address in order until one connects; raise the last error."""
    infos = _resolve(host, port, options.use_ipv6)
    last_error: OSError | None = None
    for family, socktype, proto, _canon, address in infos:
        sock = socket.socket(family, socktype, proto)
        try:
            apply_socket_options(sock, options)
            if options.local_host or options.local_port:
                sock.bind(_local_address(options, family))
            sock.settimeout(deadline.remaining())
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last_error = exc
            if isinstance(exc, (TimeoutError, socket.timeout)):
                break  # the time is spent; trying the next address would overrun it
    assert last_error is not None  # getaddrinfo never returns an empty list
    raise last_error


def _local_address(options: ConnectOptions, family: int) -> tuple[Any, ...]:
    if not options.local_host:
        return ("::", options.local_port) if family == socket.AF_INET6 else ("0.0.0.0",
                                                                             options.local_port)
    try:
        infos = socket.getaddrinfo(options.local_host, options.local_port, family,
                                   socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except socket.gaierror as exc:
        kind = "IPv6" if family == socket.AF_INET6 else "IPv4"
        raise OSError(errno.EADDRNOTAVAIL,
                      f"LocalHost {options.local_host!r} has no {kind} address") from exc
    return infos[0][4]


def apply_socket_options(sock: socket.socket, options: ConnectOptions) -> None:
    """Set the configured options on a socket that is not yet connected."""
    if options.local_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if options.in_buffer_size:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, options.in_buffer_size)
    if options.out_buffer_size:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, options.out_buffer_size)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if options.tcp_nodelay else 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_struct(options))
    if options.tcp_keepalive:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for option, ms in _keepalive_options(options):
            sock.setsockopt(socket.IPPROTO_TCP, option, _whole_seconds(ms))


def linger_struct(options: ConnectOptions) -> bytes:
    """struct linger {int l_onoff; int l_linger;} for Linger / LingerTime."""
    if not options.linger:
        onoff, seconds = 1, 0  # abortive close: reset at once
    elif options.linger_time > 0:
        onoff, seconds = 1, options.linger_time
    else:
        onoff, seconds = 0, 0  # the normal graceful close
    return struct.pack("ii", onoff, seconds)


def _keepalive_options(options: ConnectOptions) -> Iterator[tuple[int, int]]:
    # macOS names the idle time TCP_KEEPALIVE
    idle = getattr(socket, "TCP_KEEPIDLE", getattr(socket, "TCP_KEEPALIVE", None))
    if options.keepalive_time_ms and idle is not None:
        yield idle, options.keepalive_time_ms
    interval = getattr(socket, "TCP_KEEPINTVL", None)
    if options.keepalive_interval_ms and interval is not None:
        yield interval, options.keepalive_interval_ms


def _whole_seconds(ms: int) -> int:
    # Linux caps TCP_KEEPIDLE / TCP_KEEPINTVL at 32767 s and refuses 0
    return min(32767, max(1, math.ceil(ms / 1000)))
