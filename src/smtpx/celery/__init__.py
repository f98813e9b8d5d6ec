"""smtpx on Celery workers with a Redis broker (``pip install smtpx[celery]``): docs/celery.md.

In the app module the workers and the producers import::

    from celery import Celery
    import smtpx.celery

    app = Celery("mail", broker="redis://localhost:6379/0", backend="redis://localhost:6379/1")
    app.conf.smtpx = {"mail_server": "mx.example.com", "mail_port": 25, "size": 2, "rate_limit": 100}
    tasks = smtpx.celery.install(app)

and to send: ``run = smtpx.celery.send_messages(app, messages, chunk_size=100)``, then
``run.wait()`` for the counts.
"""
from __future__ import annotations

from smtpx.celery.producer import ChunkRun, send_messages
from smtpx.celery.settings import CelerySettings, settings_of
from smtpx.celery.tasks import SEND_CHUNK, SEND_MESSAGE, Tasks, install
from smtpx.celery.wire import WireMessage, decode_message, encode_message

__all__ = ["install", "Tasks", "send_messages", "ChunkRun", "encode_message", "decode_message", "WireMessage",
           "CelerySettings", "settings_of", "SEND_CHUNK", "SEND_MESSAGE"]
