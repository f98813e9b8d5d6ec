"""A real Postfix started for the tests, from a private configuration directory.

What it gives:
- ``smtp_port``: smtpd with STARTTLS (security level "may"), PIPELINING, CHUNKING, SMTPUTF8,
  DSN, 8BITMIME, SIZE, and Cyrus SASL over a private sasldb (PLAIN LOGIN CRAM-MD5 DIGEST-MD5);
- ``smtps_port``: the same smtpd in wrapper mode (implicit TLS);
- every accepted message for ``*@example.test`` is delivered by local(8) into one mbox,
  ``mailbox_path``; mail for other domains is discarded (``default_transport = discard``);
- ``reject@example.test`` is refused at RCPT (for per-recipient results);
- ``maillog``: Postfix's own log, with the full SMTP conversation of 127.0.0.1 logged
  (``debug_peer_list``), so tests can check on the server side what the client sent.

Postfix needs root (it is started as root and drops to the ``postfix`` user); the test
command installs the Debian packages. Nothing listens anywhere but 127.0.0.1.
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import refuse_in_a_server_free_run
from tests.servers.sockets import free_port

SASL_USER = "smtpxuser"
SASL_PASSWORD = "s3cret-Pass"
SASL_REALM = "example.test"
MAILBOX_USER = "smtpxbox"

_MASTER_CF = """\
{smtp_listen} inet n - n - - smtpd
{smtps_listen} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes -o smtpd_tls_security_level=encrypt
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

_MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {base}/spool
data_directory = {base}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.example.test
mydomain = example.test
myorigin = example.test
mydestination = example.test, mx.example.test, localhost
mynetworks = 127.0.0.0/8
maillog_file_prefixes = {base}
maillog_file = {base}/maillog
mail_spool_directory = {base}/mail
local_recipient_maps =
luser_relay = {mailbox_user}@localhost
alias_maps =
alias_database =
default_transport = discard
relay_transport = discard
smtputf8_enable = yes
message_size_limit = {size_limit}
debug_peer_list = 127.0.0.1
debug_peer_level = 1
smtpd_recipient_restrictions =
    check_recipient_access inline:{{reject@example.test=REJECT}}
    permit_mynetworks
    reject_unauth_destination
smtpd_tls_cert_file = {base}/tls/server.pem
smtpd_tls_key_file = {base}/tls/server.key
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_sasl_local_domain = {realm}
smtpd_sasl_security_options = noanonymous
cyrus_sasl_config_path = {base}/sasl
smtpd_sasl_authenticated_header = yes
"""

_SASL_CONF = """\
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN CRAM-MD5 DIGEST-MD5 SCRAM-SHA-1 SCRAM-SHA-256
sasldb_path: {base}/sasl/sasldb2
"""


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {host}:{port} after {timeout}s")
            time.sleep(0.05)


def require_binary(name: str, package: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if not path:
        raise RuntimeError(f"{name} is missing: install the Debian package '{package}' (scripts/install-test-deps.sh does)")
    return path


def _ensure_mailbox_user() -> None:
    try:
        pwd.getpwnam(MAILBOX_USER)
    except KeyError:
        subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", MAILBOX_USER], check=True)


@dataclass
class Postfix:
    base: Path
    smtp_port: int
    smtps_port: int
    ca_pem: str  # the test CA that signed the server certificate (for SSLServerCACerts)
    size_limit: int
    _mailbox_offset: int = field(default=0)

    host = "127.0.0.1"
    server_name = "mx.example.test"
    user = SASL_USER
    password = SASL_PASSWORD

    @property
    def mailbox_path(self) -> Path:
        return self.base / "mail" / MAILBOX_USER

    @property
    def maillog(self) -> Path:
        return self.base / "maillog"

    def log_text(self) -> str:
        return self.maillog.read_text(errors="replace") if self.maillog.exists() else ""

    def mailbox_text(self) -> str:
        return self.mailbox_path.read_bytes().decode("utf-8", "replace") if self.mailbox_path.exists() else ""

    def wait_for_delivery(self, marker: str, *also: str, timeout: float = 20.0) -> str:
        """Wait until a delivered message containing ``marker`` (and every string in ``also``)
        is in the mbox; return that message."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in split_mbox(self.mailbox_text()):
                if marker in message and all(extra in message for extra in also):
                    return message
            time.sleep(0.1)
        raise AssertionError(f"no message containing {marker!r} was delivered within {timeout}s;\nlog tail:\n{self.log_text()[-3000:]}")

    def wait_for_log(self, needle: str, timeout: float = 20.0, start: int = 0) -> str:
        """Wait until ``needle`` is in the log after character ``start``; return the log from
        ``start`` on."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text()[start:]
            if needle in text:
                return text
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not in the Postfix log within {timeout}s;\nlog tail:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        subprocess.run(["postfix", "-c", str(self.base), "stop"], capture_output=True)
        # postfix stop returns before every child exits; make sure the ports are free.
        subprocess.run(["postfix", "-c", str(self.base), "abort"], capture_output=True)


def split_mbox(text: str) -> list[str]:
    """Messages of an mbox file, each without its "From " separator line."""
    messages: list[str] = []
    current: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("From ") and (not current or current[-1] in ("\n", "\r\n")):
            if current:
                messages.append("".join(current))
            current = []
            continue
        current.append(line)
    if current:
        messages.append("".join(current))
    return messages


def start_postfix(base: Path, size_limit: int = 10_240_000, main_cf_extra: str = "") -> Postfix:
    """Write a private Postfix configuration under ``base`` and start it; ``main_cf_extra``
    lines are added to main.cf (a milter: tests/servers/opendkim.py)."""
    import trustme

    refuse_in_a_server_free_run("Postfix", "postfix")
    require_binary("postfix", "postfix")
    require_binary("saslpasswd2", "sasl2-bin")
    _ensure_mailbox_user()
    base = base.resolve()
    for sub in ("spool", "data", "mail", "tls", "sasl"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    postfix_user = pwd.getpwnam("postfix")
    os.chown(base / "data", postfix_user.pw_uid, postfix_user.pw_gid)
    os.chmod(base / "mail", 0o1777)

    ca = trustme.CA()
    leaf = ca.issue_cert("mx.example.test", "localhost", "127.0.0.1")
    (base / "tls" / "server.pem").write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems))
    (base / "tls" / "server.key").write_bytes(leaf.private_key_pem.bytes())
    os.chmod(base / "tls" / "server.key", 0o600)
    ca_pem = ca.cert_pem.bytes().decode()
    (base / "tls" / "ca.pem").write_text(ca_pem)

    (base / "sasl" / "smtpd.conf").write_text(_SASL_CONF.format(base=base))
    subprocess.run(
        ["saslpasswd2", "-p", "-c", "-f", str(base / "sasl" / "sasldb2"), "-u", SASL_REALM, SASL_USER],
        input=SASL_PASSWORD.encode(),
        check=True,
    )
    os.chown(base / "sasl" / "sasldb2", postfix_user.pw_uid, postfix_user.pw_gid)

    smtp_port, smtps_port = free_port(), free_port()
    (base / "main.cf").write_text(
        _MAIN_CF.format(base=base, mailbox_user=MAILBOX_USER, realm=SASL_REALM, size_limit=size_limit)
        + main_cf_extra
    )
    (base / "master.cf").write_text(
        _MASTER_CF.format(smtp_listen=f"127.0.0.1:{smtp_port}", smtps_listen=f"127.0.0.1:{smtps_port}")
    )
    check = subprocess.run(["postfix", "-c", str(base), "check"], capture_output=True, text=True)
    start = subprocess.run(["postfix", "-c", str(base), "start"], capture_output=True, text=True)
    if start.returncode != 0:
        log = (base / "maillog").read_text(errors="replace") if (base / "maillog").exists() else ""
        raise RuntimeError(f"postfix did not start: {check.stderr}{start.stderr}\n{log[-2000:]}")
    server = Postfix(base=base, smtp_port=smtp_port, smtps_port=smtps_port, ca_pem=ca_pem, size_limit=size_limit)
    try:
        wait_for_port(smtp_port)
        wait_for_port(smtps_port)
    except Exception:
        server.stop()
        raise
    return server


@dataclass
class SmtpSink:
    """Postfix's smtp-sink: a fast SMTP sink (PIPELINING, no CHUNKING), optional dump file."""

    process: subprocess.Popen
    port: int
    dump: Path | None
    host = "127.0.0.1"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def dump_text(self) -> str:
        return self.dump.read_bytes().decode("utf-8", "replace") if self.dump and self.dump.exists() else ""


def start_smtp_sink(dump: Path | None = None, extra_args: tuple[str, ...] = ()) -> SmtpSink:
    refuse_in_a_server_free_run("smtp-sink", "postfix")
    binary = require_binary("smtp-sink", "postfix")
    port = free_port()
    args = [binary, "-u", "postfix", *extra_args]
    if dump is not None:
        dump.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(dump.parent, 0o1777)
        args += ["-D", str(dump)]
    args += [f"127.0.0.1:{port}", "256"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port)
    except Exception:
        process.kill()
        raise
    return SmtpSink(process=process, port=port, dump=dump)
