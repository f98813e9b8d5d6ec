"""The facade's fixtures (aiosmtpd ScriptedServer, test CA, make_smtp), shared here."""
from facade.conftest import ca, make_smtp, server, tls  # noqa: F401
