"""CPU kernel paths: which of ATen's vectorised kernel sets this CPU can run, and how to pick one.

ATen, PyTorch's CPU backend, builds its elementwise, reduction and math kernels once per
instruction set and runs the widest one the CPU has; ``ATEN_CPU_CAPABILITY`` caps it when torch is
imported (on x86: ``default``, the scalar build, then ``avx2`` and ``avx512``; inductor's compiled
kernels follow it). So one machine can run the kernel paths of older or other CPUs, and a result
that depends on the path can be caught before it reaches a user whose CPU takes another one: the
cross-kernel-path tests run amx's computations under every path ``available()`` lists, and
``amx stability --kernels`` reruns the claims under two of them. Float32 results of two paths
differ in the last bits (other summation orders, vectorised exp/log); what amx guarantees across
them is in the README's "Reproducibility across machines".
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys

VARIABLE = "ATEN_CPU_CAPABILITY"
X86_PATHS = ("default", "avx2", "avx512")  # narrowest first


def current() -> str:
    """The kernel path this process runs, e.g. ``"avx512"`` (``ATEN_CPU_CAPABILITY`` applied)."""
    import torch

    return torch.backends.cpu.get_cpu_capability().lower()


@functools.cache
def native() -> str:
    """The widest kernel path of this CPU: what a fresh process picks without ``ATEN_CPU_CAPABILITY``."""
    env = {k: v for k, v in os.environ.items() if k != VARIABLE}
    code = "import torch; print(torch.backends.cpu.get_cpu_capability().lower())"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"amx.kernels: could not ask torch for this CPU's kernel path: "
                           f"{done.stderr[-500:]}")
    return done.stdout.strip()


def available() -> tuple[str, ...]:
    """The kernel paths this CPU can run, narrowest first: ``default`` and every x86 path up to the
    native one (``("default", "avx2", "avx512")`` on an AVX-512 CPU); elsewhere ``default`` and the
    native path."""
    widest = native()
    if widest in X86_PATHS:
        return X86_PATHS[:X86_PATHS.index(widest) + 1]
    return ("default",) if widest == "default" else ("default", widest)


def environment(path: str) -> dict[str, str]:
    """This process's environment with ATen capped at kernel path ``path`` (for a subprocess;
    ``AVX512`` and ``avx512`` alike)."""
    path = path.lower()
    if path not in available():
        raise ValueError(f"kernel path {path!r}: this CPU runs {', '.join(available())}")
    return {**os.environ, VARIABLE: path}


def pass_tolerance(model, dtype=None) -> float:
    """How far one forward or backward pass of ``model`` may differ between kernel paths or batch
    sizes, relative to the largest ``|value|`` of its output: ``2 L sqrt(K) u``, with ``L`` the
    model's layers that sum (convolutions and linear layers), ``K`` the largest number of terms one
    of them sums (its fan-in), ``u`` the unit roundoff of ``dtype`` (the model's; float32: 2^-24).

    Why: a sum of ``K`` terms reordered (another kernel's blocking, another batch size's algorithm)
    moves by about ``sqrt(K) u`` of the terms' magnitude (the probabilistic rounding model of
    Higham and Mary 2019, not a worst case), and the layers' errors add to first order; the factor
    2 covers a pass that reads another pass's rounding (a backward pass reads its forward's). It
    is a rounding model relative to the output's largest value: an output that cancels (terms
    much larger than their sum) can move by more, and sums outside convolutions and linear layers
    (pooling, normalisation) are not counted. It bounds continuous outputs (logits). A gradient is
    piecewise constant in the ReLUs' and max-pools' switching, so where rounding moves a
    pre-activation across 0 or breaks a max-pool tie, the gradient jumps by that unit's share,
    which no rounding bound covers.

    >>> from amx.testing import TinyGAPNet
    >>> round(pass_tolerance(TinyGAPNet()) / 2 ** -24, 1)  # 3 layers, fan-in 8 * 3 * 3 = 72
    50.9
    """
    import math

    import torch
    from torch import nn

    layers = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]
    if not layers:
        raise ValueError(f"pass_tolerance: model {type(model).__name__} has no convolution or linear layer")
    fan_in = max(m.in_features if isinstance(m, nn.Linear)
                 else m.in_channels // m.groups * math.prod(m.kernel_size) for m in layers)
    dtype = dtype or next(model.parameters()).dtype
    return 2 * len(layers) * math.sqrt(fan_in) * torch.finfo(dtype).eps / 2


def ieee_float32() -> None:
    """Run float32 on CUDA as IEEE float32. PyTorch runs cuDNN's float32 convolutions in TF32
    (``torch.backends.cudnn.conv.fp32_precision == "tf32"`` by default in torch 2.14: a 10-bit
    mantissa, rounding 2^-11 where float32's is 2^-24) on Ampere and newer GPUs; amx switches
    convolutions and matrix products to ``"ieee"`` when it puts a model on CUDA
    (``amx.zoo.registry.load``), so a GPU's maps differ from a CPU's by float32 rounding only, as two
    CPU kernel paths' do. The price is the GPU's TF32 speed-up of convolutions."""
    import torch

    torch.backends.cudnn.conv.fp32_precision = "ieee"
    torch.backends.cuda.matmul.fp32_precision = "ieee"


def cpu_identity() -> str:
    """A short hash of this CPU's model and instruction-set flags (``/proc/cpuinfo`` where there is
    one; else the platform's processor and machine names)."""
    import hashlib
    import platform

    text = f"{platform.machine()} {platform.processor()}"
    try:
        with open("/proc/cpuinfo") as info:
            keys = ("model name", "flags", "Features", "CPU part")
            lines = [line for line in info if line.startswith(keys)]
        text += "".join(dict.fromkeys(lines))  # one of each: the cores repeat them
    except OSError:
        pass
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def compile_cache() -> str:
    """Point torch.compile's on-disk cache (``TORCHINDUCTOR_CACHE_DIR``, else inductor's default) at a
    subdirectory of this kernel path and CPU, and return it; call it before compiling.

    Why: inductor's cache does not key its CPU kernels by ``ATEN_CPU_CAPABILITY``. Measured with
    torch 2.14.1 (EP's mask kernels, one cache shared in turn): written under ``avx512``, the same
    cache made the ``default`` path fail to compile (``at::vec`` undeclared) and the ``avx2`` path
    return wrong masks (EP's maps summed to 34,382 where a fresh cache gives 46,539 on every path).
    Its kernels are also built with ``-march=native``, so a cache shared by machines with other CPUs
    (a cluster's shared home) is unsafe too. Idempotent within a process."""
    import os

    from torch._inductor.runtime.cache_dir_utils import cache_dir

    leaf = f"amx-{current()}-{cpu_identity()}"
    base = cache_dir()
    if os.path.basename(base) != leaf:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(base, leaf)
    return cache_dir()
