"""Batch sizes that fit the device: on CUDA, ``inputs_per_pass`` sizes batches from the device's
free memory, and ``halving`` retries a step whose batch ran out of memory with half of it, so a
run never loses what it computed."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

# Bytes of activations (forward + backward) per input pixel of a 224-px ImageNet CNN, measured
# with torch.cuda.max_memory_allocated: DenseNet-161, the hungriest of the zoo, keeps about 2.3 kB
# per pixel for an input gradient; amx budgets half the free memory at 4 kB per pixel.
BYTES_PER_PIXEL = 4096
MEMORY_SHARE = 0.5


def inputs_per_pass(device: str | torch.device, image_size: int) -> int | None:
    """Model inputs per pass on a CUDA device: ``MEMORY_SHARE`` of its free memory at
    ``BYTES_PER_PIXEL`` per input pixel (at least 1). None on a CPU: the methods' defaults."""
    if not str(device).startswith("cuda"):
        return None
    free, _ = torch.cuda.mem_get_info(torch.device(device))
    return max(1, int(MEMORY_SHARE * free / (BYTES_PER_PIXEL * image_size * image_size)))


def halving(step: Callable[[int], object], size: int, what: str, log=print) -> tuple[object, int]:
    """``step(size)``, retried with half the batch ``size`` each time CUDA runs out of memory
    (an error naming ``what`` when even one input does not fit). Returns the result and the size
    that worked, for the next step to start from."""
    while True:
        try:
            return step(size), size
        except torch.cuda.OutOfMemoryError:
            if size <= 1:
                message = f"{what}: out of CUDA memory at 1 input per pass"
                raise torch.cuda.OutOfMemoryError(message) from None
            torch.cuda.empty_cache()
            size = max(1, math.ceil(size / 2))
            log(f"{what}: out of CUDA memory; retrying with {size} inputs per pass")
