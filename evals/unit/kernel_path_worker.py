"""What test_kernel_paths compares between CPU kernel paths: run as a script under one
``ATEN_CPU_CAPABILITY`` (``python kernel_path_worker.py OUT.npz``), it writes amx's random draws,
the embedded world's images, every mini zoo model's float32 logits (a batch and one image at a
time) and every method's float64 maps to ``OUT.npz``."""

from __future__ import annotations

import sys
import warnings

N_IMAGES = 4  # logits
N_MAP_IMAGES = 3  # maps


def draws() -> dict:
    import torch

    from amx.attacks import uniform_l2_ball
    from amx.draws import normal
    from amx.methods.lime import samples
    from amx.methods.rise import RISEConfig, draw_masks

    def gen():
        return torch.Generator().manual_seed(7)

    grid, shifts = draw_masks(RISEConfig(n_masks=64), (64, 64), gen())
    return {"normal": normal((4, 3, 64, 64), gen()).numpy(),
            "rand": torch.rand(4096, generator=gen()).numpy(),
            "randint": torch.randint(0, 1000, (4096,), generator=gen()).numpy(),
            "l2_ball": uniform_l2_ball((2, 3, 64, 64), 0.5, gen()).numpy(),
            "rise_grid": grid.numpy(), "rise_shifts": shifts.numpy(),
            "lime": samples(40, 100, 7)}


def compute() -> dict:
    import numpy as np
    import torch

    from amx import kernels, methods
    from amx.data.arrays import load_split
    from amx.data.worlds import get_world
    from amx.kernels import pass_tolerance
    from amx.testing import cheap_method
    from amx.zoo import registry

    out = {f"draw/{k}": v for k, v in draws().items()}
    out["kernel_path"] = np.array(kernels.current())
    images, targets = load_split(get_world("mini"), "eval", N_IMAGES).batch(slice(None))
    out["images"] = images.numpy()
    with torch.no_grad():
        for name in registry.specs("mini"):
            model = registry.load(name, world="mini")
            out[f"logits/{name}"] = model(images).numpy()
            one_by_one = [model(images[i:i + 1]) for i in range(N_IMAGES)]
            out[f"logits_one_by_one/{name}"] = torch.cat(one_by_one).numpy()
            out[f"tolerance/{name}"] = pass_tolerance(model)
    model64 = registry.load("resnet-mini", world="mini").double()
    for name in methods.names():
        method = cheap_method(name, without_ties=True)
        maps = method(model64, images[:N_MAP_IMAGES].double(), targets[:N_MAP_IMAGES], seed=3)
        out[f"maps64/{name}"] = maps.numpy()
    return out


if __name__ == "__main__":
    import numpy as np

    warnings.simplefilter("ignore")
    np.savez(sys.argv[1], **compute())
