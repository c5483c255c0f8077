"""``python -m cmdprogress.testing serve ...``: see ``docs/testing.md``."""

from __future__ import annotations

import sys

from ._serve import main

if __name__ == "__main__":
    sys.exit(main())
