"""``python -m smtpx`` runs the command line (see smtpx.cli)."""
import sys

from smtpx.cli import main

sys.exit(main())
