"""Where amx's shipped files are, and atomic file writes: write to a temporary file beside the
target, then rename over it, so a killed run never leaves a half-written cache entry, weights
file or manifest."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PAPER_DIR = FIXTURES / "paper"  # the papers' reference tables and claims catalogue


def write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Create ``path`` with what ``write(file)`` writes into a binary file, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
