"""Real test servers started by fixtures: aiosmtpd (scripted), Postfix, smtp-sink, proxies."""
from __future__ import annotations

import os


def refuse_in_a_server_free_run(server: str, marker: str) -> None:
    """A run with SMTPX_SERVER_FREE=1 (scripts/test-lowest.sh, which deselects the tests
    marked ``postfix`` and ``proxy``) starts no real server: a test that starts one anyway
    lacks its marker, and fails here instead of passing by chance where the server exists."""
    if os.environ.get("SMTPX_SERVER_FREE") == "1":
        raise RuntimeError(f"this run is server-free (SMTPX_SERVER_FREE=1), but a test starts {server}: "
                           f"mark it @pytest.mark.{marker}")
