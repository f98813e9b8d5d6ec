from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from recording_sink import Sink  # noqa: E402


@pytest.fixture
def sink():
    server = Sink().start()
    yield server
    server.stop()
