"""Django, configured once for the whole run (no database, no apps): what its mail API needs.
Also the facade tests' real aiosmtpd server."""
from __future__ import annotations

import django
import pytest
from django.conf import settings

from tests.servers.scripted_fixtures import ca, server  # noqa: F401  (fixtures)


@pytest.fixture(scope="session", autouse=True)
def django_settings():
    if not settings.configured:
        settings.configure(
            EMAIL_BACKEND="smtpx.django.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=25,
            DEFAULT_CHARSET="utf-8",
            DEFAULT_FROM_EMAIL="webmaster@example.test",
        )
        django.setup()
    return settings
