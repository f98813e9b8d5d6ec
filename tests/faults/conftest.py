"""The facade's fixtures (aiosmtpd ScriptedServer, test CA, make_smtp), shared here."""
from tests.facade.conftest import ca, make_smtp, server, tls  # noqa: F401
