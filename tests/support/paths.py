"""Where the tests find the repository and the installed `consent-sync` console script."""

from __future__ import annotations

import sys
from pathlib import Path

#: The repository root; its connectors/ and mappings/ are the shipped configuration.
REPO = Path(__file__).resolve().parents[2]
#: The console script installed next to the interpreter running the tests.
CONSENT_SYNC = Path(sys.executable).parent / "consent-sync"
