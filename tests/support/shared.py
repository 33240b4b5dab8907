"""Where the read-only references and recorded fixtures live: ``../shared`` beside the project root
(as in every checkout and in CI), overridable with ``DESKBRIDGE_SHARED``."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("DESKBRIDGE_SHARED", PROJECT_ROOT.parent / "shared"))
REFERENCE = SHARED / "reference"
FIXTURES = SHARED / "fixtures"
