"""The command line: ``cmdprogress watch`` and ``cmdprogress demo``.

Run ``cmdprogress --help`` (or ``python -m cmdprogress --help``); the
commands are documented in ``docs/cli.md``.  The live display needs the
``cmdprogress[cli]`` extra (rich); without it the output is plain lines.

Example::

    $ CMDPROGRESS_PASSWORD=... cmdprogress watch --url https://10.0.0.5:28443 \\
          --user admin --ca-file manager-ca.pem 1234 1235
"""

from __future__ import annotations

import sys

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
