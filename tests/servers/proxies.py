"""Real proxies on 127.0.0.1 (and ::1) for the firewall tests.

Fixtures (session scope; each returns a ``RunningProxy``):

- ``socks_proxy``       dante-server, SOCKS4 + SOCKS5, no authentication; also on ::1 when
                        the machine has IPv6 (``host6``).
- ``socks_auth_proxy``  dante-server, SOCKS5 username/password (RFC 1929). Dante checks them
                        against the system's users, so the fixture creates a throwaway system
                        user ``smtpx-socks-<random>`` (no home, no login shell) with a random
                        password for this session only, and deletes it at teardown (its own
                        name, so test runs side by side never change each other's user).
                        Needs root (the tests run as root).
- ``http_proxy``        tinyproxy, HTTP CONNECT to any port, no authentication.
- ``http_auth_proxy``   tinyproxy with Basic authentication.
- ``http_proxy_v6``     tinyproxy listening on ::1 (skips without IPv6).
- ``ssh_socks_proxy``   OpenSSH dynamic forwarding (``ssh -D``), SOCKS4, SOCKS4A and SOCKS5
                        without authentication: a private sshd on 127.0.0.1 (own host key,
                        own authorized key, forwarding allowed to loopback only via
                        PermitOpen) and an ``ssh -N -D`` client logged in to it as the
                        current user. Needs openssh-server and openssh-client.

Every proxy runs as a child process (not a daemon) with a private config file in a temporary
folder, allows clients from loopback only and (dante) forwards to loopback only. A missing
binary fails with the Debian package to install. Note: dante 1.4 has no SOCKS4A (it reads the
4A marker address 0.0.0.x as a real address), hence the OpenSSH one for SOCKS4A.
"""
from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import pytest

from tests.servers import refuse_in_a_server_free_run
from tests.servers.sockets import free_port, ipv6_available

__all__ = ["RunningProxy", "socks_proxy", "socks_auth_proxy", "http_proxy", "http_auth_proxy",
           "http_proxy_v6", "ssh_socks_proxy"]

SOCKS_USER_PREFIX = "smtpx-socks-"
START_TIMEOUT = 10.0


@dataclass
class RunningProxy:
    kind: str                    # "socks" (v4 + v5) or "http"
    host: str
    port: int
    user: str = ""
    password: str = ""
    host6: str | None = None     # "::1" when the proxy also listens there
    log_path: str = ""
    process: subprocess.Popen | None = field(default=None, repr=False)

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            return ""


def _require(binary: str, package: str) -> str:
    path = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin:/sbin")
    if path is None:
        pytest.fail(f"{binary} is not installed: install the Debian package '{package}' "
                    f"(apt-get install -y {package})")
    return path


def _wait_until_listening(proc: subprocess.Popen, host: str, port: int,
                          log_paths: list[str], name: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    _stop(proc)
    log = ""
    for path in log_paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                log += handle.read()[-2000:]
        except OSError:
            pass
    pytest.fail(f"{name} did not start listening on {host}:{port} (exit code {proc.returncode});"
                f" log:\n{log}")


def _start(cmd: list[str], host: str, port: int, log_path: str, name: str) -> subprocess.Popen:
    with open(log_path + ".stdout", "wb") as out:
        # own session, so teardown can signal the proxy and the children it forks
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _wait_until_listening(proc, host, port, [log_path, log_path + ".stdout"], name)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)


# ------------------------------------------------------------------ dante

def _dante_config(log_path: str, port: int, with_ipv6: bool, method: str) -> str:
    lines = [f"logoutput: {log_path}", f"internal: 127.0.0.1 port = {port}"]
    if with_ipv6:
        lines.append(f"internal: ::1 port = {port}")
    lines += [
        "external: lo",
        "user.privileged: root",
        "user.unprivileged: nobody",
        "clientmethod: none",
        f"socksmethod: {method}",
        "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }",
    ]
    sources = ["127.0.0.0/8"] + (["::1/128"] if with_ipv6 else [])
    if with_ipv6:
        lines.append("client pass { from: ::1/128 to: ::/0 }")
    for source in sources:
        for target in ["127.0.0.0/8"] + (["::1/128"] if with_ipv6 else []):
            lines.append(f"socks pass {{ from: {source} to: {target} command: connect\n"
                         "  log: connect error }")
    # everything else (other destinations, the SOCKS4A marker 0.0.0.x) is refused
    lines.append("socks block { from: 0/0 to: 0/0\n  log: connect error }")
    return "\n".join(lines) + "\n"


def _start_dante(tmp: str, method: str) -> RunningProxy:
    refuse_in_a_server_free_run("dante", "proxy")
    binary = _require("danted", "dante-server")
    with_ipv6 = ipv6_available()
    port = free_port(both_families=with_ipv6)
    log_path = os.path.join(tmp, f"danted-{method}.log")
    conf = os.path.join(tmp, f"danted-{method}.conf")
    with open(conf, "w", encoding="ascii") as handle:
        handle.write(_dante_config(log_path, port, with_ipv6, method))
    proc = _start([binary, "-f", conf, "-p", os.path.join(tmp, f"danted-{method}.pid")],
                  "127.0.0.1", port, log_path, "danted")
    return RunningProxy("socks", "127.0.0.1", port, host6="::1" if with_ipv6 else None,
                        log_path=log_path, process=proc)


def _create_socks_user() -> tuple[str, str]:
    """A new throwaway system user for dante to check, with a random password."""
    if os.geteuid() != 0:
        pytest.skip("the SOCKS5 username test needs root to create a system user for dante")
    useradd = _require("useradd", "passwd")
    chpasswd = _require("chpasswd", "passwd")
    user = SOCKS_USER_PREFIX + secrets.token_hex(4)
    subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
                   check=True, capture_output=True)
    password = secrets.token_urlsafe(12)
    subprocess.run([chpasswd], input=f"{user}:{password}\n".encode(), check=True,
                   capture_output=True)
    return user, password


@pytest.fixture(scope="session")
def socks_proxy():
    with tempfile.TemporaryDirectory(prefix="smtpx-dante-") as tmp:
        proxy = _start_dante(tmp, "none")
        try:
            yield proxy
        finally:
            _stop(proxy.process)


@pytest.fixture(scope="session")
def socks_auth_proxy():
    user, password = _create_socks_user()
    try:
        with tempfile.TemporaryDirectory(prefix="smtpx-dante-auth-") as tmp:
            proxy = _start_dante(tmp, "username")
            proxy.user, proxy.password = user, password
            try:
                yield proxy
            finally:
                _stop(proxy.process)
    finally:
        subprocess.run(["userdel", user], capture_output=True)


# ------------------------------------------------------------------ tinyproxy

def _start_tinyproxy(tmp: str, name: str, listen: str, auth: tuple[str, str] | None
                     ) -> RunningProxy:
    refuse_in_a_server_free_run("tinyproxy", "proxy")
    binary = _require("tinyproxy", "tinyproxy")
    family_v6 = ":" in listen
    port = free_port(both_families=family_v6) if family_v6 else free_port()
    log_path = os.path.join(tmp, f"{name}.log")
    lines = [f"Port {port}", f"Listen {listen}", "Timeout 30", "MaxClients 50",
             "Allow 127.0.0.1", "Allow ::1", f'LogFile "{log_path}"', "LogLevel Info",
             f'PidFile "{os.path.join(tmp, name + ".pid")}"', "DisableViaHeader Yes"]
    # no ConnectPort line: CONNECT is allowed to every port
    if auth:
        lines.append(f"BasicAuth {auth[0]} {auth[1]}")
    conf = os.path.join(tmp, f"{name}.conf")
    with open(conf, "w", encoding="ascii") as handle:
        handle.write("\n".join(lines) + "\n")
    proc = _start([binary, "-d", "-c", conf], listen, port, log_path, "tinyproxy")
    proxy = RunningProxy("http", listen, port, log_path=log_path, process=proc)
    if auth:
        proxy.user, proxy.password = auth
    return proxy


@pytest.fixture(scope="session")
def http_proxy():
    with tempfile.TemporaryDirectory(prefix="smtpx-tinyproxy-") as tmp:
        proxy = _start_tinyproxy(tmp, "tinyproxy", "127.0.0.1", None)
        try:
            yield proxy
        finally:
            _stop(proxy.process)


@pytest.fixture(scope="session")
def http_auth_proxy():
    with tempfile.TemporaryDirectory(prefix="smtpx-tinyproxy-auth-") as tmp:
        proxy = _start_tinyproxy(tmp, "tinyproxy-auth", "127.0.0.1",
                                 ("smtpx", secrets.token_urlsafe(12)))
        try:
            yield proxy
        finally:
            _stop(proxy.process)


@pytest.fixture(scope="session")
def http_proxy_v6():
    if not ipv6_available():
        pytest.skip("this machine has no IPv6 loopback (::1)")
    with tempfile.TemporaryDirectory(prefix="smtpx-tinyproxy6-") as tmp:
        proxy = _start_tinyproxy(tmp, "tinyproxy-v6", "::1", None)
        proxy.host6 = "::1"
        try:
            yield proxy
        finally:
            _stop(proxy.process)


# ------------------------------------------------------------------ OpenSSH (ssh -D)

def _start_ssh_socks(tmp: str) -> tuple[RunningProxy, subprocess.Popen]:
    refuse_in_a_server_free_run("an ssh -D proxy", "proxy")
    sshd = _require("sshd", "openssh-server")
    ssh = _require("ssh", "openssh-client")
    keygen = _require("ssh-keygen", "openssh-client")
    user = pwd.getpwuid(os.geteuid()).pw_name
    for name in ("hostkey", "clientkey"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(tmp, name)],
                       check=True, capture_output=True)
    shutil.copy(os.path.join(tmp, "clientkey.pub"), os.path.join(tmp, "authorized_keys"))
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
    ssh_port, socks_port = free_port(), free_port()
    conf = os.path.join(tmp, "sshd.conf")
    with open(conf, "w", encoding="ascii") as handle:
        handle.write("\n".join([
            f"ListenAddress 127.0.0.1:{ssh_port}",
            f"HostKey {tmp}/hostkey", f"PidFile {tmp}/sshd.pid",
            f"AuthorizedKeysFile {tmp}/authorized_keys", "StrictModes no", "UsePAM no",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", f"AllowUsers {user}",
            "AllowTcpForwarding local", "PermitOpen 127.0.0.1:* localhost:* [::1]:*",
            "X11Forwarding no", "PermitTTY no", ""]))
    log_path = os.path.join(tmp, "sshd.log")
    server = _start([sshd, "-D", "-e", "-f", conf], "127.0.0.1", ssh_port, log_path, "sshd")
    client_log = os.path.join(tmp, "ssh.log")
    try:
        client = _start([ssh, "-N", "-D", f"127.0.0.1:{socks_port}", "-i", f"{tmp}/clientkey",
                         "-F", "/dev/null", "-o", "StrictHostKeyChecking=no",
                         "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                         "-o", "ExitOnForwardFailure=yes", "-p", str(ssh_port),
                         f"{user}@127.0.0.1"], "127.0.0.1", socks_port, client_log, "ssh -D")
    except BaseException:
        _stop(server)
        raise
    return RunningProxy("socks", "127.0.0.1", socks_port, log_path=log_path,
                        process=client), server


@pytest.fixture(scope="session")
def ssh_socks_proxy():
    with tempfile.TemporaryDirectory(prefix="smtpx-ssh-socks-") as tmp:
        proxy, server = _start_ssh_socks(tmp)
        try:
            yield proxy
        finally:
            _stop(proxy.process)
            _stop(server)
