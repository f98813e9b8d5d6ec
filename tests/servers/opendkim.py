"""Debian's OpenDKIM as a verifying milter, for end-to-end DKIM tests through a real Postfix.

``start_opendkim(base, records)`` runs ``opendkim`` in the foreground (verify mode only) on a
loopback inet socket. Public keys come from a local file (``TestPublicKeys``: one line per key,
``<selector>._domainkey.<domain> <TXT record>``), so no DNS is asked. Its verdict is the
``Authentication-Results`` field it adds (authserv-id ``mx.example.test``), which Postfix
delivers with the message. ``milter_main_cf(port)`` is the Postfix configuration that hands
every message smtpd receives to it (a milter that does not answer fails the message: tempfail).

opendkim is started as root and drops to its own user (``opendkim``, made by the package).
"""
from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.servers import refuse_in_a_server_free_run
from tests.servers.postfix import require_binary, wait_for_port
from tests.servers.sockets import free_port

AUTHSERV_ID = "mx.example.test"

_CONF = """\
Mode v
Socket inet:{port}@127.0.0.1
Background no
Syslog no
UserID opendkim
AuthservID {authserv_id}
AlwaysAddARHeader yes
TestPublicKeys {keys}
On-BadSignature accept
On-NoSignature accept
On-DNSError tempfail
On-KeyNotFound tempfail
On-InternalError tempfail
MinimumKeyBits 1024
"""


@dataclass
class OpenDKIM:
    process: subprocess.Popen[bytes]
    port: int
    keys: Path

    def stop(self) -> None:
        # Killed: on SIGTERM libmilter waits about 5 s for its listener, and nothing it holds
        # needs flushing (it keeps no state between messages).
        self.process.kill()
        self.process.wait(5)


def milter_main_cf(port: int) -> str:
    """main.cf lines for a Postfix that passes what smtpd receives through the milter."""
    return (f"smtpd_milters = inet:127.0.0.1:{port}\n"
            "milter_default_action = tempfail\n"
            "milter_protocol = 6\n")


def start_opendkim(base: Path, records: dict[str, str]) -> OpenDKIM:
    """opendkim verifying with the public ``records`` (``"sel._domainkey.example.com"`` ->
    ``"v=DKIM1; k=rsa; p=..."``), its files under ``base``."""
    refuse_in_a_server_free_run("opendkim", "postfix")
    binary = require_binary("opendkim", "opendkim")
    user = pwd.getpwnam("opendkim")
    base.mkdir(parents=True, exist_ok=True)
    keys = base / "public-keys"
    keys.write_text("".join(f"{name} {record}\n" for name, record in records.items()))
    os.chown(keys, user.pw_uid, user.pw_gid)
    port = free_port()
    conf = base / "opendkim.conf"
    conf.write_text(_CONF.format(port=port, authserv_id=AUTHSERV_ID, keys=keys))
    process = subprocess.Popen([binary, "-f", "-x", str(conf)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        wait_for_port(port)
    except Exception:
        process.kill()
        _, err = process.communicate(5)
        raise RuntimeError(f"opendkim did not start: {err.decode(errors='replace')}") from None
    return OpenDKIM(process=process, port=port, keys=keys)
