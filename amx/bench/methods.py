"""``amx bench methods``: every attribution method's ms per image against its pass floor and,
at identical hyperparameters, against the reference library the paper used.

* floor = forwards x (one image's forward) + forward-backwards x (one image's forward +
  backward), with the pass counts of ``method.passes`` (Table 2) and each pass timed in the
  fastest of batches of ``FLOOR_BATCHES`` inputs;
* efficiency = floor / measured time (target >= 0.7 on CPU, batches of >= 16 images); a run
  shorter than 2 s, amx's or the reference's, is timed three times and the fastest kept;
* reference: RISE vs ``torchray.attribution.rise``, LIME vs ``lime.lime_image``, SHAP vs
  ``shap.GradientExplainer``, IG vs Captum, EP vs TorchRay's ``extremal_perturbation``, MP vs a
  per-image loop (amx's MP one image at a time, as the reference's script), Gradient vs TorchRay,
  Gradient x Input, SmoothGrad and Sliding-Patch vs Captum, DeepLIFT vs Captum's ``DeepLift`` (on a
  copy of the model whose every call has its own module: Captum raises on a reused ReLU; a timing
  reference only, as its attributions are wrong on the zoo, see ``amx.methods.deeplift``), AGI vs
  the reference's loop (one image and one false class at a time); CAM, GradCAM and BIG have none.
  Where a reference's API takes a batch size (RISE, LIME, SHAP, IG, SmoothGrad, Occlusion), it
  gets amx's number of model inputs per pass, so that the speed-up is the implementation's.

Budgets: the expensive hyperparameters (masks, samples, iterations) are cut to ``BUDGETS`` so
that a CPU run ends in minutes; both sides use the same values, and a method's cost is linear in
them, so the ratios hold at the paper's budgets. Maps are not compared here (the tests do).
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Callable
from unittest import mock

import numpy as np
import torch
import torch.fx

from amx import methods
from amx.bench import fastest, pass_seconds
from amx.data.arrays import load_split
from amx.data.worlds import DEFAULT_WORLD, get_world
from amx.methods.base import default_inputs_per_pass
from amx.scoring import balanced_chunks
from amx.zoo import registry

FLOOR_BATCHES = (8, 16, 32, 64)
BUDGETS = {"rise": {"n_masks": 256}, "lime": {"n_samples": 128}, "shap": {"n_samples": 16},
           "ig": {"n_steps": 16}, "smoothgrad": {"n_samples": 16}, "ep": {"iterations": 8},
           "mp": {"iterations": 16}, "agi": {"iterations": 8, "n_classes": 8},
           "big": {"boundary": {"pgd_steps": 10, "cw_steps": 20, "cw_binary_steps": 3}}}


def random_resnet50(device: str) -> torch.nn.Module:
    """torchvision's ResNet-50 with random weights, at 224 px, with the attributes methods read,
    channels-last as ``amx.zoo.registry.load`` gives every model."""
    from torchvision.models import resnet50

    from amx.colour import IMAGENET_MEAN, IMAGENET_STD
    from amx.zoo.architectures import Normalize

    model = torch.nn.Sequential(Normalize(IMAGENET_MEAN, IMAGENET_STD), resnet50(weights=None))
    model.amx_name, model.cam_layer, model.gap_head = "resnet50-random", "1.layer4", True
    return model.eval().to(device, memory_format=torch.channels_last)


def _reference(name: str, method, model, images, targets) -> Callable[[], object] | None:
    """The reference library's call at ``method``'s hyperparameters and, where its API takes
    one, ``method``'s number of model inputs per pass; or None."""
    cfg, batch = method.config, method.inputs_per_pass(images)
    if name == "rise":
        from torchray.attribution.rise import rise
        return lambda: rise(model, images, num_masks=cfg.n_masks, num_cells=cfg.cells, batch_size=batch)
    if name == "ep":
        from torchray.attribution.extremal_perturbation import extremal_perturbation
        return lambda: [extremal_perturbation(model, images[i:i + 1], int(targets[i]), areas=list(cfg.areas),
                                              max_iter=cfg.iterations, step=cfg.step, sigma=cfg.sigma)
                        for i in range(len(images))]
    if name == "mp":
        one_at_a_time = methods.get("mp", batch_size=1, **vars(cfg))
        return lambda: one_at_a_time(model, images, targets)
    if name == "agi":
        one_path_at_a_time = methods.get("agi", batch_size=1, **vars(cfg))
        return lambda: one_path_at_a_time(model, images, targets)
    if name == "deeplift":
        from captum.attr import DeepLift

        reference = DeepLift(distinct_module_calls(model))
        return lambda: [reference.attribute(images[c], torch.zeros_like(images[c]), target=targets[c])
                        for c in balanced_chunks(len(images), max(1, batch // 2))]
    if name == "gradient":
        from torchray.attribution.gradient import gradient
        return lambda: gradient(model, images.clone(), targets)
    if name in ("ig", "gradient_x_input", "smoothgrad", "sliding_patch"):
        return _captum(name, cfg, model, images, targets, batch)
    if name == "shap":
        import shap

        from amx.methods.shap import background_images
        background = background_images(cfg.background_world, cfg.background_size).to(images.device)
        return lambda: shap.GradientExplainer(model, background, batch_size=batch).shap_values(
            images, nsamples=cfg.n_samples, ranked_outputs=1, rseed=0)
    if name == "lime":
        return _lime(cfg, model, images, targets, batch)
    return None


def distinct_module_calls(model: torch.nn.Module) -> torch.nn.Module:
    """A traced copy of ``model`` in which a module called twice (a residual block's ReLU) is two
    modules, as Captum's ``DeepLift`` needs."""
    traced = torch.fx.symbolic_trace(model)
    seen = set()
    for node in traced.graph.nodes:
        if node.op == "call_module":
            if node.target in seen:
                copy_name = f"{node.target.replace('.', '_')}_call{len(seen)}"
                traced.add_submodule(copy_name, copy.deepcopy(traced.get_submodule(node.target)))
                node.target = copy_name
            seen.add(node.target)
    traced.recompile()
    return traced


def _captum(name, cfg, model, images, targets, batch):
    from captum.attr import InputXGradient, IntegratedGradients, NoiseTunnel, Occlusion, Saliency

    if name == "ig":
        return lambda: IntegratedGradients(model).attribute(
            images, baselines=torch.zeros_like(images), target=targets, n_steps=cfg.n_steps,
            internal_batch_size=batch)
    if name == "gradient_x_input":
        return lambda: InputXGradient(model).attribute(images.clone().requires_grad_(), target=targets)
    if name == "smoothgrad":
        return lambda: NoiseTunnel(Saliency(model)).attribute(
            images.clone().requires_grad_(), nt_type="smoothgrad", nt_samples=cfg.n_samples,
            stdevs=cfg.noise, target=targets, abs=False, nt_samples_batch_size=max(1, batch // len(images)))
    def probability(x):
        return torch.softmax(model(x), 1)

    return lambda: Occlusion(probability).attribute(
        images, sliding_window_shapes=(3, cfg.patch, cfg.patch), strides=(3, cfg.stride, cfg.stride),
        baselines=cfg.fill, target=targets, perturbations_per_eval=batch)


def _lime(cfg, model, images, targets, batch):
    from lime.lime_image import LimeImageExplainer

    from amx.methods.lime import superpixels

    def classifier(hwc):
        with torch.no_grad():
            x = torch.from_numpy(hwc).permute(0, 3, 1, 2).float().to(images.device)
            return torch.softmax(model(x), 1).cpu().numpy()

    def run():
        with mock.patch.dict(os.environ, {"TQDM_DISABLE": "1"}):  # lime's per-image progress bar
            for i in range(len(images)):
                segments = superpixels(images[i], cfg)
                LimeImageExplainer(random_state=0).explain_instance(
                    images[i].permute(1, 2, 0).double().cpu().numpy(), classifier,
                    labels=(int(targets[i]),), top_labels=None, hide_color=cfg.hide_color,
                    num_samples=cfg.n_samples, batch_size=batch, segmentation_fn=lambda _, s=segments: s,
                    random_seed=0)
    return run


def _background_for(model_name: str, images: torch.Tensor):
    """SHAP's background set at the benchmark's image size: the embedded world's train images,
    or for the 224-px ResNet-50 (no 224-px world here) seeded random images; its content does
    not change the cost."""
    if model_name != "resnet50-random":
        return contextlib.nullcontext()
    generator = torch.Generator().manual_seed(1)
    return mock.patch("amx.methods.shap.background_images", lambda world, n: torch.rand(
        n, *images.shape[1:], generator=generator))


def _bench_one(name, model, images, targets, preset, world, batch_size, forward, forward_backward, dev,
               n_images, log) -> dict:
    """One method's row: ms per image, pass floor, efficiency, the reference's ms per image.
    ``world``: the world the method may read (SHAP's background), None for a random model."""
    method = methods.get(name, preset=preset, batch_size=batch_size, world=world, **BUDGETS.get(name, {}))
    fwd, fwd_bwd = method.passes(tuple(images.shape[2:]))
    floor = fwd * forward + fwd_bwd * forward_backward
    method(model, images[:2], targets[:2])  # warm-up
    seconds = fastest(lambda m=method: m(model, images, targets), dev) / n_images
    reference = _reference(name, method, model, images, targets)
    ref_seconds = fastest(reference, dev) / n_images if reference else None
    model.requires_grad_(True)  # TorchRay's EP switches it off
    row = {"method": name, "config": repr(method), "forwards": fwd, "forward_backwards": fwd_bwd,
           "ms_per_image": round(1e3 * seconds, 2), "floor_ms_per_image": round(1e3 * floor, 2),
           "efficiency": round(floor / seconds, 3),
           "reference_ms_per_image": None if ref_seconds is None else round(1e3 * ref_seconds, 2),
           "speedup_vs_reference": None if ref_seconds is None else round(ref_seconds / seconds, 2)}
    log(f"  {name:15s} {row['ms_per_image']:9.1f} ms/image  floor {row['floor_ms_per_image']:9.1f}  "
        f"efficiency {row['efficiency']:.2f}  reference {row['reference_ms_per_image']}  "
        f"speed-up {row['speedup_vs_reference']}")
    return row


def bench_methods(model_name: str, world: str = DEFAULT_WORLD, n_images: int = 16,
                  names: list[str] | None = None, batch_size: int | None = None, device: str = "cpu",
                  log=print) -> dict:
    """Time every method (or ``names``) on ``n_images``, ``batch_size`` model inputs per pass
    (default: the methods' default for the image size); returns the result dict."""
    dev = torch.device(device)
    if model_name == "resnet50-random":
        model, preset, size = random_resnet50(device), "paper", 224
        gen = torch.Generator().manual_seed(0)
        images = torch.rand(n_images, 3, size, size, generator=gen).to(dev)
        targets = torch.randint(0, 1000, (n_images,), generator=gen).to(dev)
    else:
        model, preset = registry.load(model_name, world=world, device=device), get_world(world).preset
        images, targets = load_split(get_world(world), "eval", n_images).batch(slice(None), device)
    batch_size = batch_size or default_inputs_per_pass(images)
    forward = min(pass_seconds(model, images, b) for b in FLOOR_BATCHES)
    forward_backward = min(pass_seconds(model, images, b, backward=True) for b in FLOOR_BATCHES)
    log(f"{model_name}: forward {1e3 * forward:.2f} ms/image, forward+backward "
        f"{1e3 * forward_backward:.2f} ms/image (fastest of batches {FLOOR_BATCHES}); methods: "
        f"{batch_size} model inputs per pass")
    rows = []
    with _background_for(model_name, images):
        for name in names or methods.names():
            rows.append(_bench_one(name, model, images, targets, preset,
                                   None if model_name == "resnet50-random" else world, batch_size,
                                   forward, forward_backward, dev, n_images, log))
    return {"benchmark": "methods", "model": model_name, "preset": preset, "n_images": n_images,
            "image_size": int(images.shape[-1]), "batch_size": batch_size,
            "floor_batches": FLOOR_BATCHES, "budgets": BUDGETS,
            "forward_ms_per_image": round(1e3 * forward, 3),
            "forward_backward_ms_per_image": round(1e3 * forward_backward, 3),
            "targets": {"efficiency": 0.7, "speedup_vs_reference": 1.0},
            "min_efficiency": float(np.min([r["efficiency"] for r in rows])), "methods": rows}
