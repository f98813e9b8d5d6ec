from __future__ import annotations

import pytest

from tests.queue.recording_sink import Sink


@pytest.fixture
def sink():
    server = Sink().start()
    yield server
    server.stop()
