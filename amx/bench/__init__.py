"""Benchmarks (``amx bench ...``): speed and memory targets are measured here and written to a
JSON file with the machine they ran on, never asserted in timed tests."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

from amx.files import write_atomic


def machine(device: str) -> dict:
    """Where a benchmark ran: torch version, device, CPU threads, host."""
    info = {"torch": torch.__version__, "device": device, "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(), "platform": platform.platform(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def write_result(path: str | Path, result: dict) -> Path:
    """Write ``result`` as indented JSON (atomically) and return the path."""
    path = Path(path)
    text = json.dumps(result, indent=2) + "\n"
    write_atomic(path, lambda f: f.write(text.encode()))
    return path
