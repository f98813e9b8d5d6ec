"""Certificates made with the ``openssl`` command line and its default configuration, as users
make company CAs: ``openssl req -x509 -newkey rsa:2048`` gives a CA with basicConstraints but
no keyUsage extension, which OpenSSL (and so smtplib, Postfix) trusts."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@dataclass
class OpenSSLPKI:
    folder: Path
    ca_pem: Path          # the CA certificate (no keyUsage)
    leaf_chain: Path      # leaf (SAN: localhost, mail.example.test, 127.0.0.1) + nothing else
    leaf_key: Path
    cn_only_chain: Path   # leaf with CN=localhost and no subjectAltName
    cn_only_key: Path
    self_signed: Path     # a self-signed server certificate with a SAN (openssl req -x509)
    self_signed_key: Path

    def ca_text(self) -> str:
        return self.ca_pem.read_text()


def make_openssl_pki(folder: Path) -> OpenSSLPKI:
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "30", "-subj", "/CN=Example Company Root CA", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,DNS:mail.example.test,IP:127.0.0.1\n")
    for name, ext in (("leaf", ["-extfile", "san.ext"]), ("cn_only", [])):
        _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", "/CN=localhost", cwd=folder)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "30", "-out", f"{name}.pem", *ext, cwd=folder)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "self.key", "-out", "self.pem",
             "-days", "30", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             cwd=folder)
    return OpenSSLPKI(folder=folder, ca_pem=folder / "ca.pem", leaf_chain=folder / "leaf.pem",
                      leaf_key=folder / "leaf.key", cn_only_chain=folder / "cn_only.pem",
                      cn_only_key=folder / "cn_only.key", self_signed=folder / "self.pem",
                      self_signed_key=folder / "self.key")
