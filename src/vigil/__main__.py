"""``python -m vigil`` runs the CLI."""

import sys

from vigil.cli import main

# Guarded: worker processes (multiprocessing "forkserver"/"spawn", used by the
# auditing witness) import the main module under another name.
if __name__ == "__main__":
    sys.exit(main())
