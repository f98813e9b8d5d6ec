"""DKIM through config() settings, for users of the reference API (docs/dkim.md):

    DKIMDomain, DKIMSelector          d= and s= (both needed, with a key, to sign)
    DKIMPrivateKey                    the key as PEM text (RSA or Ed25519)
    DKIMPrivateKeyFile                or a path to it (PEM or DER); set one of the two
    DKIMHeaders                       the header names to sign, separated by ":" or ","
                                      (empty: smtpx.dkim.DEFAULT_HEADERS)
    DKIMCanonicalization              relaxed/relaxed (default), simple/simple, ...
    DKIMOversignFrom                  bool
    DKIMExpire                        x= seconds after signing (0: none)

Each value is checked when it is set (``check_*``, an SMTPConfigError naming the setting), and
so is the signer they make together once domain, selector and key are all set
(``check_together``). ``signer_from_settings`` makes that signer; settings given only in
part (a domain without a key, ...) are an SMTPConfigError when a message is sent, and nothing
is sent.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from smtpx.dkim.keys import load_signing_key
from smtpx.dkim.signer import DKIMSigner, _canonicalization, _dns_name, _header_names
from smtpx.errors import SMTPConfigError, SMTPInputError

__all__ = ["SETTING_NAMES", "check_domain", "check_selector", "check_private_key", "check_private_key_file",
           "check_headers", "check_canonicalization", "check_together", "signer_from_settings"]

SETTING_NAMES = ("DKIMDomain", "DKIMSelector", "DKIMPrivateKey", "DKIMPrivateKeyFile", "DKIMHeaders",
                 "DKIMCanonicalization", "DKIMOversignFrom", "DKIMExpire")
_REQUIRED = ("DKIMDomain", "DKIMSelector")
_SEPARATORS = re.compile(r"[\s,:]+")


def _config_error(name: str, error: SMTPInputError) -> SMTPConfigError:
    return SMTPConfigError(f"config {name}: {error.description}")


def _checked(name: str, value: str, check: Callable[[str], object]) -> str:
    """``value`` as given, once ``check`` took it (empty: unset, not checked)."""
    if value.strip():
        try:
            check(value)
        except SMTPInputError as error:
            raise _config_error(name, error) from None
    return value


def check_domain(name: str, value: str) -> str:
    return _checked(name, value, lambda text: _dns_name(text, "domain"))


def check_selector(name: str, value: str) -> str:
    return _checked(name, value, lambda text: _dns_name(text, "selector"))


def check_private_key(name: str, value: str) -> str:
    if value.strip() and "-----BEGIN" not in value:
        raise SMTPConfigError(f"config {name}: expected the key as PEM text (-----BEGIN ...); "
                              "for a file, use DKIMPrivateKeyFile")
    return _checked(name, value, load_signing_key)


def check_private_key_file(name: str, value: str) -> str:
    return _checked(name, value, load_signing_key)


def header_list(value: str) -> list[str] | None:
    names = [part for part in _SEPARATORS.split(value) if part]
    return names or None


def check_headers(name: str, value: str) -> str:
    return _checked(name, value, lambda text: _header_names(header_list(text)))


def check_canonicalization(name: str, value: str) -> str:
    return _checked(name, value, _canonicalization)


def signer_from_settings(value: Callable[[str], Any]) -> DKIMSigner | None:
    """The signer the DKIM* settings describe (``value(name)`` reads one), None when none of
    domain, selector and key is set; SMTPConfigError when only some are."""
    key_text, key_file = value("DKIMPrivateKey"), value("DKIMPrivateKeyFile")
    given = {name: bool(value(name)) for name in _REQUIRED}
    given["DKIMPrivateKey"] = bool(key_text or key_file)
    if not any(given.values()):
        return None
    if key_text and key_file:
        raise SMTPConfigError("config DKIMPrivateKey and DKIMPrivateKeyFile: set one of them, not both")
    missing = [name for name, present in given.items() if not present]
    if missing:
        raise SMTPConfigError(f"config DKIM settings: {' and '.join(missing)} missing "
                              "(DKIMDomain, DKIMSelector and DKIMPrivateKey or DKIMPrivateKeyFile go together)")
    expire = value("DKIMExpire")
    try:
        return DKIMSigner(domain=value("DKIMDomain"), selector=value("DKIMSelector"),
                          private_key=key_text or key_file, headers=header_list(value("DKIMHeaders")),
                          canonicalization=value("DKIMCanonicalization"),
                          oversign_from=value("DKIMOversignFrom"), expire=expire or None)
    except SMTPInputError as error:
        raise _config_error("DKIM settings", error) from None


def check_together(value: Callable[[str], Any], name: str, typed: Any) -> None:
    """Setting ``name`` to ``typed``: the signer the settings would make with it, when
    complete, must be valid (a name too long for DNS, two keys). Incomplete is fine here."""

    def new_value(setting: str) -> Any:
        return typed if setting.lower() == name.lower() else value(setting)

    key_text, key_file = new_value("DKIMPrivateKey"), new_value("DKIMPrivateKeyFile")
    if key_text and key_file:
        raise SMTPConfigError("config DKIMPrivateKey and DKIMPrivateKeyFile: set one of them, not both")
    if all(new_value(setting) for setting in _REQUIRED) and (key_text or key_file):
        signer_from_settings(new_value)
