"""Engine settings: the protocol switches the facade maps from properties and config()."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class EngineOptions:
    allow_extensions: bool = True  # EHLO (else HELO only, no extensions)
    use_pipelining: bool = True  # RFC 2920, when the server offers it
    use_chunking: bool = True  # RFC 3030 BDAT, when the server offers it
    tls_required: bool = False  # refuse to go on in plaintext
    # PLAIN/LOGIN over plaintext would hand the password to anyone on the path: off by default.
    allow_plaintext_auth: bool = False
    mask_sensitive: bool = True  # hide AUTH arguments in pi_trail
    send_rset: bool = True  # RSET a failed transaction at once (False: just before the next MAIL)
    stop_on_to_errors: bool = True
    stop_on_cc_errors: bool = True
    stop_on_bcc_errors: bool = False
    dsn_ret: str = ""  # "FULL" or "HDRS" (RET= on MAIL, when the server offers DSN)
    dsn_envid: str = ""  # ENVID= on MAIL (xtext-encoded by the engine)
    # REQUIRETLS on MAIL (RFC 8689): every hop must use verified TLS or bounce the message; a
    # send is refused before MAIL unless this session is TLS and the server offers REQUIRETLS.
    require_tls_delivery: bool = False
    max_line: int = 8192  # reply scanner limits (bytes per line, bytes per reply, lines)
    max_reply: int = 65536
    max_lines: int = 1000
    chunk_size: int = 1 << 20  # BDAT chunk for content of unknown or large size
