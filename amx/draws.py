"""Random draws that are the same bits on every kernel path, device and batch.

Every stochastic step of amx draws on the CPU from a ``torch.Generator`` seeded by the run's
``--seed`` (``AttributionMethod.__call__``, the boundary search's starts), and the images of a
batch share the draws (LIME: each image restarts the same stream), so an image's draws never
depend on the images beside it or on the device; they move to the device after drawing.

torch's CPU uniform (``rand``) and integer (``randint``) draws are the same bits on every CPU
kernel path, and so are its float64 normal draws; its float32 normal draws are not: with
``ATEN_CPU_CAPABILITY=avx2`` or ``avx512`` ATen's vectorised Box-Muller gives other last bits
than the scalar ``default`` path (39% of 100,000 draws differ, by up to 1.9e-6; torch 2.14.1).
So amx draws normals in float64 and rounds them (``normal``); the cross-kernel-path test holds
every draw bitwise equal under each capability the CPU has. Machines with another C library are
not tested: torch's float64 transform calls its ``log`` and ``cos``, whose last bit a float32 draw
survives but at a rounding tie.
"""

from __future__ import annotations

import torch


def normal(shape, generator: torch.Generator, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard-normal draws of ``shape`` from ``generator`` (a CPU generator), drawn in float64
    (the same bits on every CPU kernel path) and rounded to ``dtype``.

    >>> a = normal((2, 16), torch.Generator().manual_seed(0))
    >>> a.dtype, torch.equal(a, normal((2, 16), torch.Generator().manual_seed(0)))
    (torch.float32, True)
    """
    return torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype)
