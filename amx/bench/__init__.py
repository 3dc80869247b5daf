"""Benchmarks (``amx bench ...``): speed and memory targets are measured here and written to a
JSON file with the machine they ran on, never asserted in timed tests."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

from amx.files import write_atomic


def device_name(device: str) -> str:
    """What timings measured on ``device`` depend on: the GPU's name for CUDA, else the CPU model
    (``/proc/cpuinfo``'s model name where there is one) and the torch threads used."""
    if str(device).startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                         model)
    except OSError:
        pass
    return f"{model} ({torch.get_num_threads()} threads)"


def machine(device: str) -> dict:
    """Where a benchmark ran: torch version, device, CPU threads, host."""
    info = {"torch": torch.__version__, "device": device, "device_name": device_name(device),
            "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "platform": platform.platform(),
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


def timed(run: Callable[[], object], device: torch.device) -> float:
    """Wall-clock seconds of ``run()``, synchronising CUDA before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def pass_seconds(model, images: torch.Tensor, batch_size: int, backward: bool = False,
                 repeats: int = 5) -> float:
    """Seconds per image of one forward (or forward + input-gradient backward, as gradient
    methods take it) in batches of ``batch_size``: the fastest of ``repeats`` after a warm-up,
    since a floor is a best case and a slow outlier must not lower it."""
    x = images.repeat(-(-batch_size // len(images)), 1, 1, 1)[:batch_size]

    def forward():
        with torch.no_grad():
            model(x)

    def forward_backward():
        xg = x.clone().requires_grad_(True)
        torch.autograd.grad(model(xg)[:, 0].sum(), xg)

    run = forward_backward if backward else forward
    run()  # warm-up
    return min(timed(run, x.device) for _ in range(repeats)) / batch_size


def fastest(run: Callable[[], object], device: torch.device, short_s: float = 2.0) -> float:
    """Seconds of ``run()``; a run shorter than ``short_s`` is repeated twice more and the
    fastest of the three kept, so that a scheduler hiccup does not decide a comparison."""
    first = timed(run, device)
    return first if first >= short_s else min(first, *(timed(run, device) for _ in range(2)))
