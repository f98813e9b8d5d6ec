"""The session layer: one connection's life over the engine and a byte stream, for the sync
and the asyncio facade alike.

- ``settings``: SessionSettings (what one connection needs) and the decisions taken from it
  before connecting (start mode by port, EHLO name, engine options and TLS settings);
- ``core``: the driver core, every rule of running the engine over a stream
  (smtpx.transport.byte_stream.ByteStream) and the state and steps both sessions share;
- ``sync``: ``run`` and ``Session`` over SyncStream (smtpx.SMTP);
- ``aio``: ``run`` and ``AsyncSession`` over AsyncStream (smtpx.aio.AsyncSMTP).

The facade imports the settings from here; each driver from its own module (so a sync
program never imports asyncio).
"""
from smtpx.session.settings import PLAINTEXT_PORTS, SessionSettings, effective_start_mode, local_name, prepare_open

__all__ = ["PLAINTEXT_PORTS", "SessionSettings", "effective_start_mode", "local_name", "prepare_open"]
