"""TLS for smtpx: an ``ssl.SSLContext`` from the reference's settings, the handshake, and the
verification of the server certificate with an accept hook.

How verification works (and why)
--------------------------------
The verdict is OpenSSL's, with the trust anchors a Python user expects: the platform's store
(what ``ssl.create_default_context()`` loads) plus ``SSLServerCACerts`` (PEM text, a PEM file
or a folder of PEM files). smtpx accepts exactly the chains that
``ssl.create_default_context(cafile=...)`` with ``check_hostname`` accepts on the same Python,
and refuses the ones it refuses: a private CA made by the ``openssl`` command line without
keyUsage is trusted, as OpenSSL, smtplib and Postfix trust it. (smtpx 0.1 verified with
``cryptography``'s web-PKI policy instead, which is stricter than OpenSSL and refused such CAs.)

The handshake itself runs with ``verify_mode=CERT_NONE``; right after it, before a single byte
of application data is written, the chain the server sent goes to OpenSSL's verification
(smtpx.tls.verify: an in-memory OpenSSL client built like ``create_default_context`` verifies
it). Why not ``CERT_REQUIRED`` in the real handshake: OpenSSL would abort the handshake on the
first problem, but the reference lets the ``SSLServerAuthentication`` handler *accept* a
certificate that failed verification, and ``ssl_accept_server_cert`` pin one. After an aborted
handshake the only way on would be a new TCP connection, and with STARTTLS the whole SMTP
dialogue before it as well; and OpenSSL reports one error, not everything that is wrong.
Verifying after the handshake keeps one connection, gives the handler an exact status
(expired, not yet valid, self-signed, wrong host, untrusted, each distinct), and lets a pin
match exactly one certificate (SHA-256 of its DER form).

A user's own ``ssl.SSLContext`` (``ssl_context=``, as smtplib and aiosmtplib take it) is used
for the handshake as it is. If it verifies (``CERT_REQUIRED``, as ``create_default_context``
makes it), OpenSSL's verdict in the handshake is final: a refusal is SMTPCertificateError with
its status, and neither the handler nor a pin can overrule it (the handshake is over). If it
does not verify (``CERT_NONE``), smtpx verifies afterwards as above, with the handler and pin.

Status strings (``SSLServerAuthenticationEvent.status``): ``"OK"``, or the problems found,
joined by "; ", each starting with one of the ``STATUS_*`` phrases below.
"""
from __future__ import annotations

import select
import socket
import ssl
from typing import Callable, Optional

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from smtpx.errors import SMTPCertificateError, SMTPError, SMTPTLSError
from smtpx.events import SSLServerAuthenticationEvent
from smtpx.tls import messages as tls_messages
from smtpx.tls.certificate import Certificate
from smtpx.tls.context import TLSHooks, TLSInfo, TLSSettings, build_context
from smtpx.tls.names import OPENSSL_TO_IANA
from smtpx.tls.verify import STATUS_OK, status_for_openssl_error, verify_server_chain

__all__ = ["handshake", "handshake_context", "handshake_error", "certificate_refused", "server_verdict"]


# ----------------------------------------------------------------------------- handshake
Waiter = Callable[[bool], None]  # wait(for_write): block until the socket is ready or raise


def _blocking_wait(sock: socket.socket) -> Waiter:
    def wait(for_write: bool) -> None:
        if for_write:
            select.select([], [sock], [])
        else:
            select.select([sock], [], [])
    return wait


def handshake_context(settings: TLSSettings) -> ssl.SSLContext:
    """The context a handshake uses: the user's own, the one a resumed session needs, or one
    built from the settings (sync and asyncio alike)."""
    return settings.user_context or settings.context or build_context(settings)


def certificate_refused(exc: ssl.SSLCertVerificationError) -> SMTPCertificateError:
    """A user's verifying context refused the server in the handshake: OpenSSL's verdict."""
    reason = status_for_openssl_error(exc.verify_code, exc.verify_message or "")
    return SMTPCertificateError(f"the server certificate was not accepted: {reason}", 280,
                                status=reason, reasons=[reason])


def handshake_error(exc: Optional[BaseException], *, starttls: Optional[bool] = None,
                    received: bytes = b"") -> Exception:
    """The typed error for a failed handshake (shared with the asyncio handshake).

    ``starttls`` says how TLS was started when the caller knows it (True: after STARTTLS's
    220, False: implicit TLS, None: unknown); it only changes the message when the server
    answered in plaintext (OpenSSL's WRONG_VERSION_NUMBER and kin): with implicit TLS that is a
    plaintext SMTP port, after STARTTLS it is bytes injected after the 220. Such an error has
    ``plaintext_answer=True``, so a caller that knows the mode can ask again with it (its
    ``__cause__`` is the ssl error). ``exc=None``: no handshake was tried because the server
    spoke first; ``received`` is what it sent."""
    reason = getattr(exc, "reason", None) or ""
    # What OpenSSL says when the first bytes from the server are no TLS record (plaintext).
    if exc is None or reason in ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "HTTP_REQUEST",
                                 "HTTPS_PROXY_REQUEST", "PACKET_LENGTH_TOO_LONG"):
        line = received.split(b"\n", 1)[0].rstrip(b"\r")[:80]
        shown = "".join(chr(b) if 32 <= b < 127 else "?" for b in line)
        sent = f" ({shown!r})" if shown else ""
        detail = f" [OpenSSL: {reason or exc}]" if exc is not None else ""
        use = ("use ssl_start_mode=SSLStartMode.EXPLICIT (STARTTLS, usually on port 587 or 25), or the "
               "server's implicit-TLS port (usually 465)")
        if starttls:
            description = (f"the server sent plaintext{sent} after its 220 reply to STARTTLS instead of a "
                           "TLS handshake: bytes injected into the connection (response injection, RFC 3207 "
                           f"section 6) or a broken server; TLS abandoned, nothing more was sent{detail}")
        elif starttls is None:
            description = (f"the server did not answer in TLS, it sent plaintext{sent}{detail}: with implicit "
                           f"TLS this looks like a plaintext SMTP port ({use}); after STARTTLS it means "
                           "bytes injected after the 220 (response injection)")
        else:
            description = (f"the server did not answer in TLS, it sent plaintext{sent}: this looks like a "
                           f"plaintext SMTP port, not an implicit-TLS one; {use}{detail}")
        return SMTPTLSError(description, 276, plaintext_answer=True)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return certificate_refused(exc)
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError, EOFError)):
        return SMTPTLSError("the server closed the connection during the TLS handshake", 276)
    text = str(exc)
    if "CERTIFICATE_REQUIRED" in reason:
        return SMTPTLSError(f"the server requires a client certificate (SSLCert): {text}", 281)
    if reason in ("UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE"):
        return SMTPTLSError(f"no TLS version in common with the server (see SSLEnabledProtocols): {text}", 276)
    if reason in ("NO_SHARED_CIPHER", "SSLV3_ALERT_HANDSHAKE_FAILURE", "NO_CIPHERS_AVAILABLE"):
        return SMTPTLSError(f"TLS handshake refused (no common cipher suite or parameters): {text}", 276)
    return SMTPTLSError(f"error during the TLS handshake: {text}", 276)


def _key_exchange(ctx: ssl.SSLContext, version: str, cipher_name: str, group: Optional[str]) -> str:
    if version == "TLSv1.3":
        if group is None:
            return "ECDHE/DHE (TLS 1.3)"
        return "DHE" if group.startswith("ffdhe") else "ECDHE"
    for info in ctx.get_ciphers():
        if info["name"] == cipher_name:
            return {"kx-ecdhe": "ECDHE", "kx-dhe": "DHE", "kx-rsa": "RSA"}.get(
                info.get("kea", ""), info.get("kea", "").replace("kx-", "").upper())
    return ""


def _peer_chain(ssock: ssl.SSLSocket) -> list[x509.Certificate]:
    sslobj = getattr(ssock, "_sslobj", None)
    getter = getattr(sslobj, "get_unverified_chain", None) or getattr(ssock, "get_unverified_chain", None)
    certs: list[x509.Certificate] = []
    if getter is not None:
        for item in getter() or []:
            der = item if isinstance(item, bytes) else item.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
            certs.append(x509.load_der_x509_certificate(der))
    if not certs:
        der = ssock.getpeercert(binary_form=True)
        if der:
            certs.append(x509.load_der_x509_certificate(der))
    return certs


def handshake(
    sock: socket.socket,
    settings: TLSSettings,
    server_hostname: str,
    hooks: Optional[TLSHooks] = None,
    *,
    wait: Optional[Waiter] = None,
) -> tuple[ssl.SSLSocket, TLSInfo]:
    """Run the TLS handshake on ``sock`` (non-blocking I/O through ``wait``), verify the server,
    ask the hooks, and return the TLS socket with what was negotiated.

    Raises SMTPTLSError (handshake), SMTPCertificateError (certificate refused; ``.status`` and
    ``.reasons`` say why). On error the socket is closed. Nothing is written after the
    handshake until the verdict is in.
    """
    status = hooks.ssl_status if hooks is not None else (lambda message: None)
    ctx = handshake_context(settings)
    sni = server_hostname.strip("[]") if server_hostname else None
    sock.setblocking(False)
    tls_messages.install(ctx)  # before wrap_socket: OpenSSL copies the callback then
    # A session can only be resumed with the context that made it.
    session = settings.session if settings.context is not None else None
    try:
        ssock = ctx.wrap_socket(sock, server_hostname=sni or None, do_handshake_on_connect=False,
                                session=session)
    except (ssl.SSLError, ValueError) as exc:
        sock.close()
        raise SMTPTLSError(f"cannot start TLS: {exc}", 276) from exc
    waiter = wait or _blocking_wait(ssock)
    sniffer = tls_messages.watch(ssock, status if settings.log_ssl_packets else None)
    status(f"Starting TLS handshake with {server_hostname or '(no host name)'}")
    try:
        while True:
            try:
                ssock.do_handshake()
                break
            except ssl.SSLWantReadError:
                waiter(False)
            except ssl.SSLWantWriteError:
                waiter(True)
    except SMTPError:  # a timeout or an interrupt while waiting: already typed (and an OSError)
        ssock.close()
        raise
    except (ssl.SSLError, OSError) as exc:
        ssock.close()
        raise handshake_error(exc) from exc
    except BaseException:
        ssock.close()
        raise

    try:
        info = server_verdict(ssock, ctx, settings, server_hostname, hooks, status, sniffer)
    except BaseException:
        ssock.close()
        raise
    return ssock, info


def server_verdict(ssock: ssl.SSLSocket, ctx: ssl.SSLContext, settings: TLSSettings, server_hostname: str,
                   hooks: Optional[TLSHooks], status: Callable[[str], None],
                   sniffer: tls_messages.ConnWatch) -> TLSInfo:
    """After a completed handshake, before anything is written: verify the server's chain,
    ask the accept hook (its answer decides) and return what was negotiated. Raises
    SMTPCertificateError when the server is not accepted. The sync and asyncio handshakes
    both end here, so they verify and report alike."""
    version = ssock.version() or ""
    cipher_name, _proto, bits = ssock.cipher() or ("", "", 0)
    status(f"TLS handshake complete: {version}, {cipher_name}")
    chain = _peer_chain(ssock)
    if not chain:
        raise SMTPCertificateError("the server presented no certificate", 282, status="no certificate",
                                   reasons=["no certificate"])
    leaf_der = chain[0].public_bytes(serialization.Encoding.DER)
    reasons: list[str] = []
    if ctx.verify_mode != ssl.CERT_NONE:  # a user's verifying context: OpenSSL has accepted it
        verify_status = STATUS_OK
    else:
        verify_status, reasons = verify_server_chain(chain, server_hostname, settings.anchors())
    accept = verify_status == STATUS_OK
    accepted_by = "verification"
    event_status = verify_status
    pin = settings.accept_server_cert
    if pin is not None and not pin.is_empty and pin.matches(leaf_der):
        accept, accepted_by = True, "ssl_accept_server_cert"
        if verify_status != STATUS_OK:
            event_status = f"OK: the certificate matches SSLAcceptServerCert ({verify_status})"
    status(f"Server certificate: {event_status}")
    server_cert = Certificate.from_x509(chain[0], chain[1:])
    if hooks is not None:
        certs = chain if settings.include_cert_chain else chain[:1]
        encoded = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
        event = SSLServerAuthenticationEvent(cert_encoded=encoded, cert_subject=server_cert.subject,
                                             cert_issuer=server_cert.issuer, status=event_status,
                                             accept=accept)
        final = bool(hooks.ssl_server_authentication(event))
        if final and not accept:
            accepted_by = "handler"
        accept = final
    if not accept:
        raise SMTPCertificateError(f"the server certificate was not accepted: {verify_status}", 280,
                                   status=verify_status, reasons=reasons)
    return TLSInfo(
        version=version,
        cipher=cipher_name,
        cipher_strength=int(bits or 0),
        cipher_suite=cipher_name if cipher_name.startswith("TLS_") else OPENSSL_TO_IANA.get(cipher_name, ""),
        key_exchange=_key_exchange(ctx, version, cipher_name, sniffer.group),
        key_exchange_strength=sniffer.bits,
        key_exchange_group=sniffer.group,
        server_cert=server_cert,
        peer_chain=[Certificate.from_x509(c) for c in chain],
        verify_status=verify_status,
        accepted_by=accepted_by,
        session=ssock.session,
        session_reused=bool(ssock.session_reused),
        context=ctx,
    )
