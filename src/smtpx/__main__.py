"""``python -m smtpx`` runs the command line (see smtpx.cli)."""
import sys

from smtpx.cli import main

if __name__ == "__main__":  # importing this module (documentation tools do) runs nothing
    sys.exit(main())
