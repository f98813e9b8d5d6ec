"""Properties and config -> what one connection needs: SessionSettings (engine options, socket
options, TLS settings, the SASL mechanism). Bad values fail here, before anything is sent."""
from __future__ import annotations

import inspect
from collections.abc import Collection
from typing import Any, Callable

from smtpx.facade.config import ConfigStore
from smtpx.engine import EngineOptions
from smtpx.enums import AuthMechanism
from smtpx.errors import SMTPInputError, SMTPNotSupportedError
from smtpx.session import SessionSettings

__all__ = ["session_settings", "tls_settings", "engine_options"]

# Mechanisms that authenticate without a password (the token or the ticket is elsewhere).
_NO_PASSWORD = (AuthMechanism.XOAUTH2, AuthMechanism.OAUTHBEARER, AuthMechanism.KERBEROS)
_OAUTH = (AuthMechanism.XOAUTH2, AuthMechanism.OAUTHBEARER)


def engine_options(smtp: Any, config: ConfigStore) -> EngineOptions:
    c = config.value
    return EngineOptions(
        allow_extensions=smtp.allow_extensions,
        use_pipelining=c("UsePipelining"),
        use_chunking=c("UseChunking"),
        allow_plaintext_auth=c("AllowPlaintextAuth"),
        mask_sensitive=c("MaskSensitiveData"),
        send_rset=c("SendRSET"),
        stop_on_to_errors=c("StopOnToErrors"),
        stop_on_cc_errors=c("StopOnCcErrors"),
        stop_on_bcc_errors=c("StopOnBccErrors"),
        dsn_ret=c("DSNReturn"),
        dsn_envid=c("DSNEnvelopeId"),
        require_tls_delivery=c("RequireTLS"),
        # A reply line is capped by MaxReplyLineLength (default 8192, FAULTS 6), or by
        # MaxLineLength ("the maximum amount of data to accumulate when no EOL is found")
        # once the user sets it; its reference default (2048) belongs to a DataIn event that
        # SMTP does not have. A longer line is refused before its end arrives.
        max_line=_reply_line_cap(config),
        max_reply=c("MaxReplySize"),
        max_lines=c("MaxReplyLines"),
        chunk_size=c("ChunkSize"),
    )


def _connect_options(smtp: Any, config: ConfigStore) -> Any:
    from smtpx.transport.connect import ConnectOptions  # the network stack loads on first connect

    c = config.value
    return ConnectOptions(
        connection_timeout=c("ConnectionTimeout") or smtp.timeout,  # 0: Timeout applies
        local_host=smtp.local_host,
        local_port=c("LocalPort"),
        use_ipv6=c("UseIPv6"),
        tcp_keepalive=c("TCPKeepAlive"),
        keepalive_time_ms=c("KeepAliveTime"),
        keepalive_interval_ms=c("KeepAliveInterval"),
        linger=c("Linger"),
        linger_time=c("LingerTime"),
        tcp_nodelay=c("TcpNoDelay"),
        in_buffer_size=c("InBufferSize"),
        out_buffer_size=c("OutBufferSize"),
        firewall=smtp.firewall,
        proxy_exceptions=[h.strip() for h in c("ProxyExceptionsList").split(";") if h.strip()],
        # Extra header lines for an HTTP tunnel (fwTunnel); refused with SOCKS.
        firewall_data=c("FirewallData"),
    )


def _mechanism(smtp: Any, config: ConfigStore, resolved_token: str | None = None) -> Callable[..., Any] | None:
    """A factory for the SASL mechanism, or None when no AUTH is to be sent (no user, or no
    password for a mechanism that needs one). The factory takes the server's AUTH keywords
    and whether TLS is up: with AuthMechanismAuto it picks the strongest mechanism offered
    (smtpx.sasl.choice); otherwise auth_mechanism is used as set. ``resolved_token``: the
    token an async token_provider gave (AsyncSMTP awaits it before connecting)."""
    auto = config.value("AuthMechanismAuto")
    has_token = smtp.token_provider is not None or bool(smtp.oauth_token)
    if not smtp.user or not (smtp.password or smtp.auth_mechanism in _NO_PASSWORD or (auto and has_token)):
        return None
    from smtpx.sasl import create_mechanism
    from smtpx.sasl.choice import choose_mechanism

    mechanism, user, password = int(smtp.auth_mechanism), smtp.user, smtp.password
    allow_plaintext = config.value("AllowPlaintextAuth")
    identity = config.value("AuthorizationIdentity")
    ntlm_v2 = config.value("UseNTLMv2")
    host = smtp.mail_server.lstrip("*")
    static_token: str | None = smtp.oauth_token or None

    def create(offered: Collection[str] | None = None, tls: bool = False) -> Any:
        chosen = mechanism
        if auto and offered is not None:
            chosen = choose_mechanism(offered, tls=tls, allow_plaintext=allow_plaintext,
                                      has_password=bool(password), has_token=has_token)
        # A provider is asked at each authentication, so a refreshed token is used.
        provider = smtp.token_provider if chosen in _OAUTH and resolved_token is None else None
        token = _provided_token(provider) if provider is not None else (resolved_token or static_token)
        return create_mechanism(chosen, user, password, identity, hostname=host,
                                use_ntlm_v2=ntlm_v2, token=token)

    return create


def _provided_token(provider: Callable[[], Any]) -> str:
    token = provider()
    if not isinstance(token, str):
        hint = ""
        if inspect.isawaitable(token):
            hint = " (an async provider works with smtpx.aio.AsyncSMTP only)"
            if inspect.iscoroutine(token):
                token.close()  # never awaited: close it, so no "never awaited" warning
        raise SMTPInputError(f"token_provider must return the OAuth token as a str, not {type(token).__name__}{hint}")
    return token


def tls_settings(smtp: Any, config: ConfigStore, previous: Any = None) -> Any:
    """TLSSettings from the SSL properties and config, validated. ``previous`` is the TLSInfo
    of the last connection to the same host, reused when ReuseSSLSession is on."""
    from smtpx.tls import TLSSettings

    c = config.value
    reuse = previous if c("ReuseSSLSession") else None
    settings = TLSSettings(
        enabled_protocols=c("SSLEnabledProtocols"),
        cipher_suites=c("SSLEnabledCipherSuites"),
        cipher_strength_min=c("SSLCipherStrength"),
        server_ca_certs=c("SSLServerCACerts"),
        client_cert=smtp.ssl_cert,
        ca_certs=c("SSLCACerts"),
        accept_server_cert=smtp.ssl_accept_server_cert,
        key_log_file=c("SSLKeyLogFile"),
        check_crl=c("SSLCheckCRL"),
        check_ocsp=c("SSLCheckOCSP"),
        include_cert_chain=c("SSLIncludeCertChain"),
        enable_renegotiation=c("SSLEnableRenegotiation"),
        log_ssl_packets=c("LogSSLPackets"),
        session=getattr(reuse, "session", None),
        context=getattr(reuse, "context", None),
        user_context=smtp.ssl_context,
    )
    settings.validate()
    return settings


def session_settings(smtp: Any, config: ConfigStore, previous_tls: Any = None,
                     resolved_token: str | None = None) -> SessionSettings:
    """Everything Session.open() needs, from an SMTP object's properties and its config."""
    if not smtp.mail_server:
        raise SMTPInputError("Please specify a MailServer.", 163)
    unsupported = config.unsupported_in_use()
    if unsupported:
        name, why = unsupported[0]
        raise SMTPNotSupportedError(f"config {name} cannot apply in smtpx: {why}")
    c = config.value
    return SessionSettings(
        host=smtp.mail_server,
        port=smtp.mail_port,
        start_mode=smtp.ssl_start_mode,
        timeout=float(smtp.timeout),
        absolute_timeout=c("AbsoluteTimeout"),
        max_transfer_rate=c("MaxTransferRate"),
        max_reply_time=float(c("MaxReplyTime")),
        spin_wait=c("SpinWait") / 1e6,
        hello_name=c("Hello"),
        connect_options=_connect_options(smtp, config),
        engine_options=engine_options(smtp, config),
        tls_settings=lambda: tls_settings(smtp, config, previous_tls),
        mechanism=_mechanism(smtp, config, resolved_token),
    )


def _reply_line_cap(config: ConfigStore) -> int:
    cap: int = config.value("MaxLineLength" if config.is_set("MaxLineLength") else "MaxReplyLineLength")
    return cap
