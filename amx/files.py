"""Where amx's shipped files are; atomic file writes (write to a temporary file beside the target,
then rename over it, so a killed run never leaves a half-written cache entry, weights file,
manifest or JSON record); and the environment settings a command sets for its own duration."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
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


def write_json(path: Path, record: dict) -> Path:
    """Write ``record`` as indented JSON to ``path``, atomically; the path."""
    path = Path(path)
    write_atomic(path, lambda f: f.write((json.dumps(record, indent=1) + "\n").encode()))
    return path


@contextlib.contextmanager
def environment(changes: dict[str, str]) -> Iterator[None]:
    """Set the environment variables ``changes`` (``--cache-dir``, a world's ``--imagenet-root``
    ...) while the block runs, then restore what was there."""
    before = {key: os.environ.get(key) for key in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
