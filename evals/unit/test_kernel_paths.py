"""amx's results under every CPU kernel path this machine has (``amx.kernels.available()``: the
scalar ``default`` path and each vectorised one up to the CPU's own), so that a result which
depends on the path fails here rather than on a user's CPU, which picks another path.

Each path runs ``kernel_path_worker.py`` in its own process (``ATEN_CPU_CAPABILITY`` is read when
torch is imported). What amx guarantees, and so what is held here:

* random draws and the embedded world's images: the same bits on every path;
* float32 logits of every zoo model, in a batch or one image at a time: within
  ``amx.kernels.pass_tolerance`` of the largest logit (the rounding of reordered sums);
* every method's float64 maps: within 1e-9 of each map's largest value, i.e. the algorithms have no
  path-dependent step (float64 passes differ by about 1e-16; float32 maps are not held to a bound
  here, see the README's "Reproducibility across machines" for their measured differences); a
  method whose ``numerics`` is ``"ties"`` runs without its tie-deciding step (``without_ties``).
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from amx import kernels, methods
from amx.testing import largest_relative_difference

WORKER = Path(__file__).with_name("kernel_path_worker.py")
MAP_TOLERANCE = 1e-9  # float64, as test_methods' batch check, for its reason


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    """``{path: the worker's arrays}`` for every kernel path of this CPU."""
    out = {}
    for path in kernels.available():
        file = tmp_path_factory.mktemp("kernels") / f"{path}.npz"
        done = subprocess.run([sys.executable, str(WORKER), str(file)], env=kernels.environment(path),
                              capture_output=True, text=True)
        assert done.returncode == 0, f"worker under ATEN_CPU_CAPABILITY={path} failed:\n{done.stderr[-3000:]}"
        with np.load(file) as arrays:
            out[path] = dict(arrays)
    return out


def _pairs(runs):
    first = next(iter(runs))
    return [(first, other) for other in runs if other != first]


def test_each_worker_ran_on_the_kernel_path_it_was_given(runs):
    if len(runs) < 2:
        pytest.skip(f"this CPU has one kernel path ({kernels.native()}): nothing to compare")
    assert {path: str(run["kernel_path"]) for path, run in runs.items()} == {path: path for path in runs}


def test_draws_and_images_are_the_same_bits_on_every_path(runs):
    for first, other in _pairs(runs):
        for key in [k for k in runs[first] if k.startswith("draw/")] + ["images"]:
            assert np.array_equal(runs[first][key], runs[other][key]), f"{key}: {first} vs {other}"


def test_zoo_logits_agree_within_the_rounding_bound_on_every_path_and_batch(runs):
    first = next(iter(runs))
    for key in [k for k in runs[first] if k.startswith("logits/")]:
        name = key.split("/", 1)[1]
        bound = float(runs[first][f"tolerance/{name}"])
        reference = torch.from_numpy(runs[first][key])
        for path, run in runs.items():
            assert largest_relative_difference(torch.from_numpy(run[key]), reference) <= bound, (name, path)
            one_by_one = torch.from_numpy(run[f"logits_one_by_one/{name}"])
            assert largest_relative_difference(one_by_one, torch.from_numpy(run[key])) <= bound, (name, path)


@pytest.mark.parametrize("name", methods.names())
def test_float64_maps_do_not_depend_on_the_kernel_path(name, runs):
    for first, other in _pairs(runs):
        a, b = (torch.from_numpy(runs[p][f"maps64/{name}"]) for p in (first, other))
        assert largest_relative_difference(b, a) <= MAP_TOLERANCE, (first, other)
