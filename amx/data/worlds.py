"""The world registry. A world is a data set with exact object boxes, the zoo of models
evaluated on it, and the protocol to regenerate claims there (presets, the zoo evaluation's
attack, the subset candidate pool), with its departures from the papers stated in words a report can show.

Worlds are registered through the ``amx.worlds`` entry-point group, amx's own as any other
package's (``pyproject.toml``: ``mini = "amx.worlds.mini:WORLD"``), so this module names no world
but the default one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np

from amx.registry import Registry

if TYPE_CHECKING:
    import torch

    from amx.attacks import PGDConfig
    from amx.zoo.spec import ModelSpec

DEFAULT_WORLD = "mini"


@dataclass(frozen=True)
class WorldOption:
    """A setting a world reads from the environment variable ``env``, also given as the pytest and
    ``amx run`` option ``--<name>`` (which sets ``env``), e.g. where the user's data are."""

    name: str
    env: str
    help: str

    @property
    def dest(self) -> str:
        return "amx_" + self.name.replace("-", "_")


class Zoo(Protocol):
    """A world's models: ``specs(world)`` in Table 1 order, ``load(spec, device)`` a model in eval
    mode after checking its fingerprint. A zoo amx can rebuild also has ``train(world, only,
    force, workers, log)`` and ``record_table1(rows)``."""

    def specs(self, world: World) -> dict[str, ModelSpec]: ...

    def load(self, spec: ModelSpec, device: str | torch.device) -> torch.nn.Module: ...


def default_pool_size(n: int) -> int:
    """Candidate images to draw ``n`` from: robust models get about 3 in 4 right, so 3n leaves
    room for the CL filter (at least 300)."""
    return max(3 * n, 300)


@dataclass(frozen=True)
class World:
    """A named world.

    ``render(split, n, workers=1)`` gives the first ``n`` samples of ``split`` as arrays: images
    uint8 ``[N, 3, H, W]`` (pixel / 255 is the float image the models take), labels ``[N]`` and
    boxes, one ``[k_i, 4]`` array of inclusive ``x0, y0, x1, y1`` pixel corners per image
    (``k_i >= 1``; which images count is ``amx.pipeline.subsets.eligible``); a world of image
    files gives ``amx.data.arrays.ImageFiles`` instead, decoded when a stage reads them.
    ``preset`` names the hyperparameter preset (``amx.presets``) of the methods and metrics a
    claims run uses. ``attack`` and ``zoo_eval_images``: the zoo's evaluation (``amx.zoo.evaluate``:
    accuracy, adversarial accuracy and confidence, the paper's Table 1, which ``amx zoo eval`` runs
    without a claim set): its PGD attack, at the world's image size and its robust models' budget,
    and its images. ``pool_size(n)`` is how many of the eval
    split's first images a subset of ``n`` is drawn from. ``claim_sets``: the claim sets a claims
    run regenerates here (None: every registered one). ``object_masks(split, indices)``: the exact
    object masks (bool ``[n, H, W]``) of a world that has them (None: boxes only).
    """

    name: str
    version: int
    seed: int
    image_size: int
    n_classes: int
    splits: tuple[str, ...]
    render: Callable[..., tuple[np.ndarray, np.ndarray, list[np.ndarray]]]
    zoo: Zoo
    attack: PGDConfig
    description: str
    departures: str
    preset: str = "paper"
    zoo_eval_images: int = 1000
    pool_size: Callable[[int], int] = default_pool_size
    claim_sets: tuple[str, ...] | None = None
    eligible: Callable[[list, int], np.ndarray] | None = None
    default_n_images: int = 100
    options: tuple[WorldOption, ...] = ()
    background_split: str = "train"
    stratified: bool = False
    data_id: Callable[[], str] | None = None
    object_masks: Callable[[str, np.ndarray], np.ndarray] | None = None

    def key(self) -> dict:
        """What identifies this world's data in cache keys: name, version, seed and, for a world
        that reads the user's files (``data_id``: a digest of them), that digest."""
        out = {"world": self.name, "world_version": self.version, "world_seed": self.seed}
        return out if self.data_id is None else {**out, "world_data": self.data_id()}

    def __post_init__(self):
        if self.image_size < 1 or self.n_classes < 2:
            raise ValueError(f"world {self.name!r}: image_size must be >= 1 and n_classes >= 2, got "
                             f"{self.image_size}, {self.n_classes}")
        if "eval" not in self.splits:
            raise ValueError(f"world {self.name!r}: needs an 'eval' split, has {self.splits}")


WORLDS: Registry[World] = Registry("world", "amx.worlds", World)
ZOO_FILE = WorldOption("zoo", "AMX_ZOO",
                       "a zoo file (TOML, amx.zoo.file): its models replace the world's zoo")


def get_world(name: str) -> World:
    """The world called ``name``; an unknown name lists the valid ones. With a zoo file set
    (``--zoo``, ``$AMX_ZOO``), the world's zoo is the file's models, and its description and
    departures say so."""
    world = WORLDS.get(name)
    path = os.environ.get(ZOO_FILE.env)
    if not path:
        return world
    from amx.zoo.file import FileZoo  # the zoo package builds on this module: imported when used

    zoo = FileZoo.read(path)
    models = ", ".join(f"{m.name} ({m.constructor}, {m.regime})" for m in zoo.models.values())
    instead = f"With --zoo, the zoo is the user's file {zoo.path}"
    return replace(world, zoo=zoo, description=f"{world.description} {instead}: {models}.",
                   departures=f"{world.departures} {instead}, not the world's own (what the text above "
                              "says of the world's zoo does not apply).")


def world_options() -> list[WorldOption]:
    """The zoo file option and the options of every registered world, one per name (worlds may
    share one)."""
    found: dict[str, WorldOption] = {ZOO_FILE.name: ZOO_FILE}
    for _, world in WORLDS.items():
        for option in world.options:
            found.setdefault(option.name, option)
    return list(found.values())
