"""The TLS handshake on an asyncio transport, with smtpx.tls's own context and verdict.

The context comes from ``smtpx.tls.build_context`` (it does not verify during the handshake);
after ``loop.start_tls`` the transport's ``ssl_object`` holds the peer's chain, and
``smtpx.tls.server_verdict`` verifies it, asks the accept hook
(``on_ssl_server_authentication``) and builds the TLSInfo, exactly as for the sync stream.
Nothing is written on the new transport before the verdict.

Two things the sync handshake does are not available here, because ``loop.start_tls`` creates
the ``SSLObject`` itself: resuming a session (ReuseSSLSession) and watching the handshake
messages (LogSSLPackets, and the key exchange group: ``key_exchange_strength`` is None).
ReuseSSLSession=True and LogSSLPackets=True raise NotImplementedError before anything is sent.
"""
from __future__ import annotations

import asyncio
import ssl
from typing import Any, Callable, Optional

from smtpx import tls as _tls
from smtpx.tls import messages as tls_messages
from smtpx.errors import SMTPError, SMTPTLSError

__all__ = ["handshake", "check_supported", "NO_SESSION_REUSE"]

NO_SESSION_REUSE = ("ReuseSSLSession is not available with AsyncSMTP: asyncio's start_tls takes no TLS "
                    "session to resume; turn ReuseSSLSession off or use smtpx.SMTP")

def check_supported(settings: "_tls.TLSSettings") -> None:
    """Raise for TLS settings the asyncio handshake cannot honour (before connecting)."""
    if settings.log_ssl_packets:
        raise NotImplementedError(
            "LogSSLPackets is not available with AsyncSMTP: asyncio's start_tls creates the TLS "
            "object itself, so smtpx cannot watch its handshake messages; use smtpx.SMTP for it")
    if settings.session is not None:
        raise NotImplementedError(NO_SESSION_REUSE)


async def handshake(
    transport: Any,
    protocol: asyncio.BaseProtocol,
    settings: "_tls.TLSSettings",
    server_hostname: str,
    hooks: Any,
    timeout: Optional[float],
    timed_out: Callable[[], Exception],
    *,
    starttls: Optional[bool] = None,
) -> tuple[Any, "_tls.TLSInfo"]:
    """Upgrade ``transport`` to TLS, verify the server and return (TLS transport, TLSInfo).
    On any error the caller aborts the connection. ``starttls`` (True: after STARTTLS, False:
    implicit TLS) words the error when the server answers in plaintext."""
    check_supported(settings)
    status = hooks.ssl_status if hooks is not None else (lambda message: None)
    ctx = _tls.handshake_context(settings)
    sni = server_hostname.strip("[]") if server_hostname else None
    loop = asyncio.get_running_loop()
    status(f"Starting TLS handshake with {server_hostname or '(no host name)'}")
    if timeout is not None and timeout <= 0:
        raise timed_out()
    try:
        # asyncio's own handshake limit is set past ours, so that ours decides.
        upgrade = loop.start_tls(transport, protocol, ctx, server_hostname=sni or None,
                                 ssl_handshake_timeout=(timeout + 5.0) if timeout else 1e6)
        tls_transport = await asyncio.wait_for(upgrade, timeout)
    except asyncio.TimeoutError:
        raise timed_out() from None
    except SMTPError:  # already typed (smtpx's timeouts are OSErrors too)
        raise
    except (ssl.SSLError, OSError, EOFError) as exc:
        raise _tls.handshake_error(exc, starttls=starttls) from exc
    if tls_transport is None:  # the transport closed during the handshake
        raise SMTPTLSError("the server closed the connection during the TLS handshake", 276)
    ssl_object = tls_transport.get_extra_info("ssl_object")
    if ssl_object is None:  # an event loop without TLS support
        tls_transport.abort()
        raise SMTPTLSError("the event loop's start_tls gave no TLS object to verify", 276)
    try:
        info = _tls.server_verdict(ssl_object, ctx, settings, server_hostname, hooks, status, tls_messages.ConnWatch())
    except BaseException:
        tls_transport.abort()
        raise
    return tls_transport, info
