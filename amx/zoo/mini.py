"""The embedded world's 12-CNN zoo (specs, training recipes, training driver and loader) and its
hyperparameter preset ``mini`` for attribution methods and metrics.

Mirrors the paper's Table 1: five architectures x {vanilla, PGD-L2 robust ``-R``} plus two
AdvProp ResNets (``resnet-mini-PGD1``, ``resnet-mini-PGD5``). Weights live in
``fixtures/zoo/mini/<name>.pt`` and ``manifest.json`` records each file's sha256, its training
config and time, and its Table-1 figures. ``amx zoo train`` rebuilds them (resumes per model).

The ``mini`` preset (``PRESET``, registered through amx's ``amx.presets`` entry point; 64-px images;
a claims run of 12 CNNs x 9 methods x 100+ images per architecture on a 2-core CPU) departs from
the paper (``amx.presets``: Table A1 per model) as follows, each value next to the paper's:

=============  ==========================  =========================  ================================
method         parameter                   paper (224 px)             mini (64 px)
=============  ==========================  =========================  ================================
ep             step, sigma, max_blur       7, 21, 20                  2, 6, 6 (x 64/224)
ep             iterations                  800                        12 (CPU budget), with
ep             learning_rate, regul_growth 0.01, 1.0035               0.1, 1.0035^(800/12): the
                                                                      paper's total regulariser
                                                                      growth over 12 steps; maps:
                                                                      Spearman 0.96 (vanilla) and
                                                                      0.81 (robust ResNet) with 300
                                                                      paper-schedule iterations
mp             mask_size                   28                         8 (x 64/224)
mp             blur_kernel, blur_sigma     11, 5                      3, 1.5 (x 64/224)
mp             iterations                  Table A1 (500, 400, 10)    Table A1, at most 40 (CPU)
rise           n_masks                     Table A1 (8000 ...)        Table A1 / 32 (CPU budget)
lime           n_samples                   1000                       128 (the paper: N has no
                                                                      significant effect on LIME)
lime           sigma (SLIC smoothing)      3                          0.86 (x 64/224)
ig             n_steps                     50                         20 (CPU budget)
shap           n_samples                   200                        32 (CPU budget)
sliding_patch  patch, stride               29, 8                      8, 4 (x 64/224, rounded)
big            boundary eps (normalised    36/255 ... 1.1             8x (pixel L2 up to 0.57 at 64
               L2 at 224 px)                                          px: mini's CNNs lie farther
                                                                      from their boundaries)
=============  ==========================  =========================  ================================

Unchanged: EP areas, RISE cells and LIME superpixels (fractions of the image), and every other
method's values (SmoothGrad 50 samples at 15%). Metrics:

=========================  ====================  ======================================
metric                     paper (224 px)        mini (64 px)
=========================  ====================  ======================================
pointing_game tolerance    15 px                 4.29 px (x 64/224)
insertion / deletion       112 steps             16 steps of 256 px (CPU budget: the two
                                                 curves are a third of a claims run's passes)
energy_pointing_game       inside the boxes      inside the exact object mask
=========================  ====================  ======================================

>>> from amx import methods
>>> methods.get("rise", preset="mini", model="ResNet-R").config.n_masks
218
"""

from __future__ import annotations

import json
import time

import torch

from amx.attacks.boundary import BIG_EPS, BoundaryConfig
from amx.colour import IMAGENET_MEAN, IMAGENET_STD
from amx.data.arrays import load_split
from amx.files import FIXTURES, write_atomic
from amx.metrics.causal import CausalConfig
from amx.metrics.energy import EnergyConfig
from amx.metrics.pointing import PointingGameConfig
from amx.presets import Preset, budgeted
from amx.registry import unknown_name
from amx.zoo.architectures import Classifier, build
from amx.zoo.spec import ModelSpec, sha256_of, verify_weights
from amx.zoo.train import TrainConfig, accuracy
from amx.zoo.train import train as train_model

ZOO_DIR = FIXTURES / "zoo" / "mini"
MANIFEST = ZOO_DIR / "manifest.json"
N_TRAIN, N_VAL = 32_000, 2_000
# PGD-L2 eps in [0,1] pixel space. The paper's eps 3 at 224 px scales to 0.86 at 64 px.
# ATTACK_EPS: Table 1's adversarial accuracy. ROBUST_TRAIN_EPS: robust training, larger because
# fine-tuning at 1.0 left the robust ResNet at 0.73x its vanilla twin's confidence (paper about
# 0.6x; target <= 0.65x); at 1.5 it is 0.49x. AdvProp's adversarial examples use 1.0.
ATTACK_EPS = 1.0
ROBUST_TRAIN_EPS = 1.5
ADVPROP_EPS = 1.0

FAMILIES = {  # architecture -> (CAM/GradCAM layer, head is GAP -> linear)
    "alexnet": ("features.conv5", False),
    "googlenet": ("features.inception4", True),
    "resnet": ("features.layer3", True),
    "densenet": ("features.dense3", True),
    "mobilenet": ("features.last", False),
}

# The blocks the sanity checks (claim set 004) randomise, from the logits down: each family's
# feature stages, a few grouped so that every family has five.
BLOCKS = {
    "alexnet": ("head", "features.conv5", "features.conv4+features.conv3", "features.conv2",
                "features.conv1"),
    "googlenet": ("head", "features.inception4", "features.inception3", "features.conv2", "features.stem"),
    "resnet": ("head", "features.layer3", "features.layer2", "features.layer1", "features.stem"),
    "densenet": ("head", "features.norm+features.dense3", "features.trans2+features.dense2",
                 "features.trans1+features.dense1", "features.stem"),
    "mobilenet": ("head", "features.last", "features.ir5+features.ir4", "features.ir3+features.ir2",
                  "features.ir1+features.stem"),
}

VANILLA = dict(epochs=4.0, lr=3e-3)
VANILLA_EPOCHS = {"resnet": 5.0, "alexnet": 7.0}  # alexnet: slowest to leave chance level
ROBUST = dict(epochs=1.5, lr=1e-3, eps=ROBUST_TRAIN_EPS, attack_steps=3, eps_ramp=0.25)
# Per-family departures from ROBUST, each because the shared recipe missed a target:
# googlenet 23.3% under PGD and densenet 67.3% clean after 1.5 epochs; mobilenet, the smallest
# family, underfit at eps 1.5 (51.6% clean, 13.8% under PGD after 1.5 epochs); at eps 1.0 it
# reached 20.1% under PGD after 2.5 epochs, and after 5 epochs kept 0.661x its twin's
# confidence (target 0.65x), so it trains at eps 1.25 for 5 epochs.
ROBUST_FAMILY = {
    "googlenet": dict(epochs=3.0),
    "densenet": dict(epochs=3.0),
    "mobilenet": dict(epochs=5.0, eps=1.25),
}
ADVPROP = dict(epochs=0.75, lr=5e-4, eps=ADVPROP_EPS, eps_ramp=0.1)
# PGD-5 examples pull the shared weights harder than PGD-1: 0.75 epochs left resnet-mini-PGD5
# 3.6 points below its vanilla twin (lr 2e-4 was worse), so it fine-tunes longer.
ADVPROP_REGIME = {
    "advprop-pgd1": dict(attack_steps=1),
    "advprop-pgd5": dict(attack_steps=5, epochs=2.0),
}

PROVENANCE = {
    "vanilla": "trained from scratch on 32k mini train images (AdamW, one-cycle, 4-7 epochs).",
    "pgd": ("PGD-L2 adversarial training (3 steps of 2.5*eps/3; eps 1.5, mobilenet 1.25), "
            "fine-tuned from the vanilla twin for 1.5-5 epochs (see training) with an eps ramp "
            "over the first 25%; departs from the paper, whose robust models (Salman et al. 2020) "
            "were trained from scratch at eps 3 / 224 px (0.86 at 64 px)."),
    "advprop-pgd1": ("AdvProp (Xie et al. 2020): clean loss through the main BN + PGD-1 loss "
                     "through an auxiliary BN (eps 1.0); fine-tuned from resnet-mini (departure: the paper's "
                     "AdvProp models were trained from scratch). Evaluated with the main BN."),
    "advprop-pgd5": ("AdvProp with PGD-5 adversarial examples, fine-tuned for 2 epochs (0.75 "
                     "left it 3.6 points below vanilla); otherwise as resnet-mini-PGD1."),
}


# BIG's eps list (normalised-space L2 at 224 px) scaled to 64 px ends at 0.071 in pixel L2, and no
# PGD attack moved any of 16 CL images of resnet-mini across at that size (C&W's closest points
# lie at a median 0.16-0.36 for the vanilla CNNs, 0.38-0.82 for the robust ones), so mini searches
# 8x BIG's eps (up to 0.57).
MINI_BOUNDARY_EPS_FACTOR = 8
MINI_METHODS = {
    "ep": {"step": 2, "sigma": 6.0, "max_blur": 6.0, "iterations": 12, "learning_rate": 0.1,
           "regul_growth": 1.0035 ** (800 / 12)},
    "mp": {"mask_size": 8, "blur_kernel": 3, "blur_sigma": 1.5},
    "lime": {"n_samples": 128, "sigma": 0.86},
    "ig": {"n_steps": 20},
    "shap": {"n_samples": 32},
    "sliding_patch": {"patch": 8, "stride": 4},
    "big": {"boundary": BoundaryConfig(eps=tuple(MINI_BOUNDARY_EPS_FACTOR * e for e in BIG_EPS))},
}
MINI_MP_MAX_ITERATIONS = 40
MINI_RISE_MASK_DIVISOR = 32
MINI_CAUSAL_STEPS = 16


def _metric_configs(image_size: int) -> dict:
    causal = CausalConfig(n_steps=MINI_CAUSAL_STEPS)
    return {"pointing_game": PointingGameConfig.for_image_size(image_size), "insertion": causal,
            "deletion": causal, "energy_pointing_game": EnergyConfig(region="mask")}


PRESET = Preset("mini", "the embedded world's 64-px scaling and 2-core CPU budgets (amx.zoo.mini)",
                budgeted(MINI_METHODS, MINI_MP_MAX_ITERATIONS, MINI_RISE_MASK_DIVISOR), _metric_configs)


def _config(architecture: str, regime: str) -> TrainConfig:
    vanilla = f"{architecture}-mini"
    if regime == "vanilla":
        epochs = VANILLA_EPOCHS.get(architecture, VANILLA["epochs"])
        return TrainConfig(regime=regime, **{**VANILLA, "epochs": epochs})
    if regime == "pgd":
        return TrainConfig(regime=regime, init_from=vanilla,
                           **{**ROBUST, **ROBUST_FAMILY.get(architecture, {})})
    return TrainConfig(regime=regime, init_from=vanilla, **{**ADVPROP, **ADVPROP_REGIME[regime]})


def _names() -> list[tuple[str, str, str]]:
    """(name, architecture, regime) in training order: each robust twin after its vanilla."""
    rows = []
    for arch in FAMILIES:
        rows += [(f"{arch}-mini", arch, "vanilla"), (f"{arch}-mini-R", arch, "pgd")]
        if arch == "resnet":
            rows += [("resnet-mini-PGD1", arch, "advprop-pgd1"),
                     ("resnet-mini-PGD5", arch, "advprop-pgd5")]
    return rows


def _manifest() -> dict:
    if MANIFEST.is_file():
        return json.loads(MANIFEST.read_text())
    return {"world": "mini", "models": {}}


def specs(world) -> dict[str, ModelSpec]:
    """All 12 specs of ``world`` (the embedded one); ``sha256`` comes from the manifest (None for
    a model not yet trained)."""
    models = _manifest()["models"]
    out = {}
    for name, arch, regime in _names():
        layer, gap = FAMILIES[arch]
        out[name] = ModelSpec(
            name=name, world=world.name, architecture=arch, regime=regime,
            weights=f"fixtures/zoo/mini/{name}.pt", weights_source="fixtures",
            sha256=models.get(name, {}).get("sha256"), input_size=world.image_size,
            n_classes=world.n_classes, mean=IMAGENET_MEAN, std=IMAGENET_STD,
            cam_layer=layer, gap_head=gap, blocks=BLOCKS[arch],
            pair=f"{arch}-mini" if regime != "vanilla" else f"{arch}-mini-R",
            provenance=PROVENANCE[regime], training=_config(arch, regime).to_dict(),
        )
    return out


def _network(spec: ModelSpec) -> Classifier:
    return build(spec.architecture, spec.n_classes, spec.mean, spec.std,
                 dual_bn=spec.regime.startswith("advprop"))


def load(spec: ModelSpec, device: str | torch.device = "cpu") -> Classifier:
    """The trained model of ``spec`` in eval mode, after checking its weights' sha256."""
    path = ZOO_DIR / f"{spec.name}.pt"
    if spec.sha256 is None:
        raise FileNotFoundError(f"model {spec.name!r} has no entry in {MANIFEST}; train it with "
                                f"`amx zoo train --model {spec.name}`")
    verify_weights(spec, path)
    model = _network(spec)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval().to(device)


def _write_manifest(manifest: dict) -> None:
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    write_atomic(MANIFEST, lambda f: f.write(text.encode()))


def _init_state(spec: ModelSpec, model: Classifier) -> None:
    """Start a fine-tune from the vanilla twin; AdvProp's auxiliary BNs copy the main ones."""
    init = spec.training["init_from"]
    state = torch.load(ZOO_DIR / f"{init}.pt", map_location="cpu", weights_only=True)
    if spec.regime.startswith("advprop"):
        own = set(model.state_dict())
        state = {dual_key: value for key, value in state.items()
                 for dual_key in _dual_keys(own, key)}
    model.load_state_dict(state)


def _dual_keys(own: set[str], key: str) -> list[str]:
    """Map a plain-BN state key to the main and auxiliary keys of a dual-BN model's ``own`` keys."""
    if key in own:
        return [key]
    prefix, leaf = key.rsplit(".", 1)
    return [f"{prefix}.main.{leaf}", f"{prefix}.aux.{leaf}"]


def record_table1(rows: list[dict]) -> None:
    """Store a regenerated Table 1 (``amx zoo eval --record``) in the manifest beside the weights."""
    manifest = _manifest()
    manifest["table1"] = {row["model"]: {k: v for k, v in row.items() if k not in ("model", "per_image")}
                          for row in rows}
    _write_manifest(manifest)


def train(world, only: list[str] | None = None, force: bool = False, workers: int = 2,
          log=print) -> dict:
    """Train the zoo of ``world`` (or ``only`` some models), skipping those already in the manifest."""
    all_specs = specs(world)
    for name in only or []:
        if name not in all_specs:  # unknown names fail before any work
            raise unknown_name("model", name, all_specs)
    ZOO_DIR.mkdir(parents=True, exist_ok=True)
    data = load_split(world, "train", N_TRAIN, workers=workers)
    val = load_split(world, "val", N_VAL, workers=workers)
    torch.set_num_threads(max(1, workers))
    # The ResNet family first (its robust and AdvProp twins are the quickest check of the
    # recipe), then AlexNet, the slowest to leave chance level, so that a miss shows early.
    order = {"resnet": 0, "alexnet": 1}
    for name in sorted(all_specs, key=lambda n: order.get(all_specs[n].architecture, 2)):
        spec = all_specs[name]
        manifest = _manifest()
        if only and name not in only:
            continue
        if name in manifest["models"] and not force:
            log(f"{name}: already trained, skipping")
            continue
        cfg = TrainConfig(**spec.training)
        model = _network(spec)
        if cfg.init_from:
            _init_state(spec, model)
        log(f"{name}: training ({cfg.regime}, {cfg.epochs} epochs)")
        history = train_model(model, cfg, data, val, log=log)
        path = ZOO_DIR / f"{name}.pt"
        write_atomic(path, lambda f, m=model: torch.save(m.state_dict(), f))
        manifest = _manifest()
        manifest["models"][name] = {
            "sha256": sha256_of(path), "training": cfg.to_dict(), "history": history,
            "val_top1": accuracy(model, val), "trained_at": time.strftime("%Y-%m-%d %H:%M:%S"),
            "torch": torch.__version__, "n_train": N_TRAIN,
        }
        _write_manifest(manifest)
        log(f"{name}: done in {history['seconds']}s, val top-1 {manifest['models'][name]['val_top1']:.3f}")
    return _manifest()
