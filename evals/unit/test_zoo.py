"""The zoo: architectures, spec consistency, fingerprints, training regimes, PGD, registry errors."""

import shutil

import numpy as np
import pytest
import torch

from amx.attacks import PGDConfig, pgd
from amx.data.arrays import SplitArrays
from amx.zoo import mini, registry
from amx.zoo.architectures import ARCHITECTURES, DualBatchNorm, build
from amx.zoo.spec import ModelSpec, WeightsMismatchError, sha256_of, verify_weights
from amx.zoo.train import TrainConfig, train

SPECS = registry.specs("mini")


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_forward_shape_and_cam_layer(architecture):
    spec = next(s for s in SPECS.values() if s.architecture == architecture)
    model = build(architecture, 20).eval()
    seen = {}
    layer = model.get_submodule(spec.cam_layer)
    layer.register_forward_hook(lambda m, i, o: seen.setdefault("a", o))
    out = model(torch.rand(3, 3, 64, 64))
    assert out.shape == (3, 20)
    assert seen["a"].ndim == 4 and seen["a"].shape[0] == 3  # a conv feature map


@pytest.mark.parametrize("name", sorted(SPECS))
def test_gap_head_flag_matches_the_network(name):
    spec = SPECS[name]
    head = build(spec.architecture, spec.n_classes).head
    layers = [m for m in head if not isinstance(m, (torch.nn.Flatten, torch.nn.Dropout))]
    is_gap_linear = (len(layers) == 2 and isinstance(layers[0], torch.nn.AdaptiveAvgPool2d)
                     and layers[0].output_size == 1 and isinstance(layers[1], torch.nn.Linear))
    if spec.architecture == "mobilenet":
        # GAP -> dropout -> linear like torchvision's MobileNet-v2, which the paper reports as
        # CAM-not-applicable; amx follows the paper's applicability.
        assert is_gap_linear and not spec.gap_head
    else:
        assert is_gap_linear == spec.gap_head


def test_zoo_has_the_papers_twelve_models():
    regimes = [s.regime for s in SPECS.values()]
    assert len(SPECS) == 12
    assert regimes.count("vanilla") == 5 and regimes.count("pgd") == 5
    assert {"resnet-mini-PGD1", "resnet-mini-PGD5"} <= set(SPECS)
    for spec in SPECS.values():
        assert spec.pair in SPECS  # every model names its vanilla / robust counterpart


@pytest.mark.parametrize("name", sorted(SPECS))
def test_shipped_weights_load_after_fingerprint_check(name):
    model = registry.load(name)
    assert not model.training
    with torch.no_grad():
        assert model(torch.rand(2, 3, 64, 64)).shape == (2, 20)


def test_corrupted_weights_raise_naming_file_and_both_hashes(tmp_path, monkeypatch):
    name = "resnet-mini"
    spec = registry.get_spec(name)
    corrupt_dir = tmp_path / "zoo"
    corrupt_dir.mkdir()
    path = corrupt_dir / f"{name}.pt"
    shutil.copy(mini.ZOO_DIR / f"{name}.pt", path)
    with open(path, "r+b") as f:
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 0xFF]))
    actual = sha256_of(path)
    monkeypatch.setattr(mini, "ZOO_DIR", corrupt_dir)
    with pytest.raises(WeightsMismatchError) as err:
        registry.load(name)
    message = str(err.value)
    assert str(path) in message and actual in message and spec.sha256 in message


def test_verify_weights_on_a_missing_file_names_it(tmp_path):
    spec = registry.get_spec("alexnet-mini")
    with pytest.raises(FileNotFoundError, match="nothere.pt"):
        verify_weights(spec, tmp_path / "nothere.pt")


def test_unknown_model_lists_valid_names_and_suggests():
    with pytest.raises(KeyError) as err:
        registry.get_spec("resnet-mini-r")
    assert "Did you mean 'resnet-mini-R'" in str(err.value)
    assert "alexnet-mini" in str(err.value) and "mobilenet-mini-R" in str(err.value)


def test_spec_type_describes_an_imagenet_robust_checkpoint():
    spec = ModelSpec(
        name="resnet50-R", world="imagenet", architecture="resnet50", regime="pgd",
        weights="resnet50_l2_eps3.ckpt", weights_source="robustness", sha256=None,
        input_size=224, n_classes=1000, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
        cam_layer="layer4", gap_head=True, provenance="Salman et al. 2020, L2 eps=3")
    # regimes are open names: a TRADES or L-inf model is described like any other
    assert ModelSpec(**{**spec.__dict__, "regime": "trades"}).regime == "trades"
    with pytest.raises(ValueError, match="regime 'PGD L2' is not a lower-case name"):
        ModelSpec(**{**spec.__dict__, "regime": "PGD L2"})


def _tiny_data(n=16):
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(n, 3, 64, 64, generator=g) * 255).to(torch.uint8).numpy()
    labels = torch.randint(0, 20, (n,), generator=g).numpy()
    return SplitArrays(images, labels, labels[:, None].repeat(4, 1))


@pytest.mark.numerics
@pytest.mark.parametrize("regime", ["vanilla", "pgd", "advprop-pgd1", "advprop-pgd5"])
def test_one_batch_of_each_training_regime(regime):
    model = build("resnet", 20, dual_bn=regime.startswith("advprop"))
    before = [p.detach().clone() for p in model.parameters()]
    cfg = TrainConfig(regime=regime, epochs=1, batch_size=8, attack_steps=0 if regime == "vanilla" else 2)
    history = train(model, cfg, _tiny_data(), max_steps=1, log=lambda *_: None)
    assert history["steps"] == 1 and torch.isfinite(torch.tensor(history["loss"])).all()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert not model.training


@pytest.mark.parametrize("regime, steps", [("vanilla", 1), ("pgd", 0), ("advprop-pgd1", 0)])
def test_train_config_rejects_attack_steps_that_contradict_the_regime(regime, steps):
    with pytest.raises(ValueError, match="TrainConfig.attack_steps"):
        TrainConfig(regime=regime, epochs=1, attack_steps=steps)


@pytest.mark.numerics
def test_training_is_deterministic_under_a_seed():
    outs = []
    for _ in range(2):
        torch.manual_seed(0)  # the initial weights; train() seeds the batches and dropout
        model = build("alexnet", 20)
        train(model, TrainConfig(regime="vanilla", epochs=1, batch_size=8), _tiny_data(),
              max_steps=2, log=lambda *_: None)
        outs.append(torch.cat([p.flatten() for p in model.parameters()]))
    assert torch.equal(outs[0], outs[1])


@pytest.mark.numerics
def test_dual_batchnorm_routes_adversarial_batches_to_the_auxiliary_bn():
    bn = DualBatchNorm(4).eval()
    bn.aux.running_mean.fill_(5.0)
    x = torch.randn(2, 4, 3, 3)
    main = bn(x)
    bn.route_to_aux = True
    assert not torch.allclose(main, bn(x))


@pytest.mark.numerics
@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_pgd_stays_in_the_eps_ball_and_in_the_image_range(norm):
    model = build("alexnet", 20).eval()
    x = torch.rand(4, 3, 64, 64)
    y = torch.randint(0, 20, (4,))
    cfg = PGDConfig(eps=0.5 if norm == "l2" else 8 / 255, steps=3, norm=norm)
    x_adv = pgd(model, x, y, cfg)
    delta = (x_adv - x).flatten(1)
    size = delta.norm(dim=1) if norm == "l2" else delta.abs().max(dim=1).values
    assert (size <= cfg.eps + 1e-5).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    loss = torch.nn.functional.cross_entropy
    with torch.no_grad():
        assert loss(model(x_adv), y) >= loss(model(x), y)
    assert all(p.requires_grad for p in model.parameters())  # restored after the attack


def test_table1_evaluation_records_the_per_image_results_its_aggregates_come_from():
    from amx.zoo.evaluate import evaluate_model

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4))
    images, labels = torch.rand(30, 3, 8, 8), torch.randint(0, 4, (30,))
    row = evaluate_model(model, images, labels, PGDConfig(eps=0.5, steps=2, step_size=0.25), batch_size=7)
    per_image = {k: np.asarray(v) for k, v in row["per_image"].items()}
    assert all(len(v) == 30 for v in per_image.values())
    assert row["top1"] == pytest.approx(100 * per_image["correct"].mean())
    assert row["pgd_top1"] == pytest.approx(100 * per_image["adv_correct"].mean())
    correct = per_image["correct"] == 1
    assert row["confidence_mean"] == pytest.approx(per_image["confidence"][correct].mean(), abs=1e-6)
