"""ConfigStore.version: bumped by every change the engine options may depend on, so the
facades rebuild the options of an open connection only when something changed."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

import smtpx
from smtpx.aio import AsyncSMTP
from smtpx.facade.config import ConfigStore
from smtpx.engine import EngineOptions
from smtpx.errors import SMTPConfigError
from smtpx.types import Firewall


def test_set_and_reset_bump_the_version_and_a_refused_value_does_not():
    store = ConfigStore()
    start = store.version
    store.set("SendRSET", "False")
    after_set = store.version
    assert after_set > start
    with pytest.raises(SMTPConfigError):
        store.set("ChunkSize", "1")  # below the minimum: refused, nothing changed
    assert store.version == after_set
    assert store.get("ChunkSize") == str(1 << 20)
    store.reset()
    assert store.version > after_set


def test_alias_and_firewall_settings_bump_the_version_too():
    owner = SimpleNamespace(return_path="", firewall=Firewall())
    store = ConfigStore(owner)
    before = store.version
    store.set("ReturnPath", "a@example.com")
    assert owner.return_path == "a@example.com"
    middle = store.version
    assert middle > before
    store.set("FirewallHost", "proxy.example")
    assert owner.firewall.host == "proxy.example"
    assert store.version > middle


@pytest.mark.parametrize("cls", [smtpx.SMTP, AsyncSMTP])
def test_allow_extensions_feeds_the_engine_options_and_bumps_the_version(cls):
    client = cls()
    before = client._config.version
    client.allow_extensions = False
    assert client._config.version > before


@pytest.mark.parametrize("cls", [smtpx.SMTP, AsyncSMTP])
def test_open_connection_options_are_rebuilt_only_after_a_change(cls):
    client = cls(mail_server="mx.example")
    options = EngineOptions()
    session = SimpleNamespace(engine=SimpleNamespace(options=options))
    client._refresh_options(session)  # first look: built from the settings
    assert options.send_rset is True
    options.send_rset = "untouched"  # a marker: a rebuild would overwrite it
    client._refresh_options(session)
    assert options.send_rset == "untouched"
    client.config("SendRSET=False")
    client._refresh_options(session)
    assert options.send_rset is False
