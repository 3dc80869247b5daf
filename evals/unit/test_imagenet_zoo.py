"""The imagenet world's zoo: every published checkpoint format round-trips through amx's loaders
with outputs equal to the original model's, files are looked up (never downloaded), and a file
that cannot be loaded weights-only is refused until the user trusts it."""

import argparse
import re
from pathlib import Path

import pytest
import torch
import torchvision

from amx.zoo import checkpoints, imagenet
from amx.zoo.architectures import Normalize
from amx.zoo.spec import cached_sha256

BY_NAME = {m.name: m for m in imagenet.MODELS}


class _Pickled:
    """An arbitrary object: unpickling it needs the class, which weights-only loading refuses."""


@pytest.fixture(autouse=True)
def _user_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(imagenet.WEIGHTS_ENV, raising=False)


def _original(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = BY_NAME[name]
    builder = getattr(torchvision.models, imagenet._TORCHVISION[model.architecture])
    if model.architecture == "googlenet":  # published with auxiliary heads
        net = builder(weights=None, aux_logits=True, transform_input=model.transform_input, init_weights=True)
    else:
        net = builder(weights=None)
    for m in net.modules():  # non-trivial BatchNorm statistics, so a dropped or swapped set shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return net.eval()


def _robustness(state: dict, prefix: str, entry: str = "model") -> dict:
    """The ``robustness`` library's layout: the model under ``prefix``, its attacker's copy, the
    normaliser's buffers, and training arguments as an ``argparse.Namespace``."""
    out = {f"{prefix}{k}": v for k, v in state.items()}
    out |= {f"module.attacker.{prefix[len('module.'):]}{k}": v for k, v in state.items()}
    out |= {"module.normalizer.new_mean": torch.zeros(3, 1, 1),
            "module.normalizer.new_std": torch.ones(3, 1, 1)}
    return {entry: out, "epoch": 90, "args": argparse.Namespace(arch="x", eps=3.0)}


def _published(name: str, net: torch.nn.Module) -> object:
    """``net``'s weights in the format ``name`` was published in."""
    state = net.state_dict()
    if name == "DenseNet":  # the file's old key names: norm.1 instead of norm1, conv.2 instead of conv2
        return {re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", k): v for k, v in state.items()}
    if name in ("ResNet", "MobileNet", "AlexNet", "GoogLeNet"):
        return state
    if name == "ResNet-R":
        return _robustness(state, "module.model.")
    if name == "DenseNet-R":  # one level deeper, and an old file's "state_dict" entry
        return _robustness(state, "module.model.model.", entry="state_dict")
    if name == "MobileNet-R":
        return _robustness(state, "module.model.model.")
    if name == "AlexNet-R":  # shape-bias: the last linear layer is last_layer
        return _robustness({k.replace("classifier.6.", "last_layer."): v for k, v in state.items()},
                           "module.model.")
    if name == "GoogLeNet-R":  # SAM's GoogLeNet: branch4_conv, with auxiliary heads
        return _robustness({k.replace(".branch4.1.", ".branch4_conv."): v for k, v in state.items()},
                           "module.model.")
    # AdvProp: module. prefix, each BatchNorm with an auxiliary copy (.aux_bn.) holding other values
    bn = {n for n, m in net.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    aux = {f"{k.rsplit('.', 1)[0]}.aux_bn.{k.rsplit('.', 1)[1]}": v + 1 if v.is_floating_point() else v
           for k, v in state.items() if k.rsplit(".", 1)[0] in bn}
    assert len(aux) == 5 * len(bn)
    state_dict = {f"module.{k}": v for k, v in (state | aux).items()}
    return {"epoch": 120, "state_dict": state_dict, "best_acc1": 77.0}


@pytest.mark.parametrize("name", list(BY_NAME))
def test_every_published_format_loads_with_the_original_outputs(name, tmp_path):
    net = _original(name)
    model = BY_NAME[name]
    path = tmp_path / f"{name}.pth"  # not the published name: torchvision's carry their hash in it
    torch.save(_published(name, net), path)
    loaded = imagenet.load_published(model, path)
    x = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = net(Normalize(model.mean, model.std)(x))
        assert (loaded(x) - expected).abs().max().item() == 0.0


def test_advprop_models_use_their_own_normalisation():
    assert BY_NAME["PGD-1"].mean == BY_NAME["PGD-5"].std == (0.5, 0.5, 0.5)
    assert BY_NAME["ResNet"].mean == (0.485, 0.456, 0.406)


def test_files_are_found_in_the_weights_dir_then_torch_home_and_fingerprinted(tmp_path, monkeypatch):
    from amx.data.worlds import get_world
    from amx.zoo import registry

    hub = Path(torch.hub.get_dir()) / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(_published("ResNet-R", _original("ResNet-R")), hub / "imagenet_l2_3_0.pt")
    found = registry.specs("imagenet")
    assert found["ResNet-R"].weights == str(hub / "imagenet_l2_3_0.pt")
    assert len(found["ResNet-R"].sha256) == 64
    assert found["ResNet"].sha256 is None and found["ResNet"].weights == "resnet50-0676ba61.pth"
    with pytest.raises(FileNotFoundError, match="no weights file resnet50-0676ba61.pth or resnet50-19c8e3"):
        get_world("imagenet").zoo.load(found["ResNet"])
    mine = tmp_path / "mine"
    mine.mkdir()
    torch.save(_published("ResNet-R", _original("ResNet-R")), mine / "imagenet_l2_3_0.pt")
    monkeypatch.setenv(imagenet.WEIGHTS_ENV, str(mine))
    assert registry.specs("imagenet")["ResNet-R"].weights == str(mine / "imagenet_l2_3_0.pt")
    model = registry.load("ResNet-R", "imagenet")  # through the world: fingerprint, convert, normalise
    assert (model.amx_name, model.cam_layer) == ("ResNet-R", "net.layer4")
    assert dict(model.named_modules())["net.layer4"] is model.net.layer4
    spec = registry.get_spec("ResNet-R", "imagenet")
    (mine / "imagenet_l2_3_0.pt").write_bytes((mine / "imagenet_l2_3_0.pt").read_bytes() + b"\0")
    with pytest.raises(imagenet.WeightsMismatchError, match="changed since it was fingerprinted"):
        get_world("imagenet").zoo.load(spec)  # the bytes loaded are the bytes checked


def test_a_torchvision_file_whose_name_hash_differs_is_refused(tmp_path):
    path = tmp_path / "resnet50-0676ba61.pth"
    torch.save({"x": torch.zeros(1)}, path)
    with pytest.raises(imagenet.WeightsMismatchError, match="its name says sha256 0676ba61"):
        imagenet.check_torchvision_hash(path, cached_sha256(path))


def test_a_file_that_needs_unpickling_is_refused_until_trusted(tmp_path):
    path = tmp_path / "imagenet_l2_3_0.pt"
    checkpoint = _published("ResNet-R", _original("ResNet-R"))
    checkpoint["schedule"] = _Pickled()
    torch.save(checkpoint, path)
    digest = cached_sha256(path)
    with pytest.raises(checkpoints.UntrustedCheckpointError,
                       match=f"sha256 {digest}.*Unsupported global.*_Pickled.*amx zoo trust"):
        imagenet.load_published(BY_NAME["ResNet-R"], path)
    assert checkpoints.trust(path) == digest
    assert digest in checkpoints.trusted() and checkpoints.trust_file().parent.name == "amx"
    imagenet.load_published(BY_NAME["ResNet-R"], path)  # now loaded fully
    path.write_bytes(path.read_bytes() + b"\0")  # another file: trust is per sha256
    with pytest.raises(checkpoints.UntrustedCheckpointError):
        checkpoints.load_checkpoint(path)


def test_a_foreign_file_is_named_unreadable_not_offered_for_trust(tmp_path):
    path = tmp_path / "imagenet_l2_3_0.pt"
    path.write_bytes(b"<html>a download page, not a checkpoint</html>")
    with pytest.raises(ValueError, match="cannot be read"):
        checkpoints.load_checkpoint(path)


def test_a_truncated_checkpoint_is_named_not_offered_for_trust(tmp_path):
    path = tmp_path / "imagenet_l2_3_0.pt"
    torch.save(_published("ResNet-R", _original("ResNet-R")), path)
    path.write_bytes(path.read_bytes()[:4096])
    with pytest.raises(ValueError, match=f"checkpoint {path} cannot be read"):
        checkpoints.load_checkpoint(path)


def test_a_checkpoint_of_another_architecture_is_named(tmp_path):
    path = tmp_path / "densenet_l2_eps3.ckpt"
    torch.save(_published("ResNet-R", _original("ResNet-R")), path)
    with pytest.raises(ValueError, match="'DenseNet-R'.*does not hold a robustness-format densenet161"):
        imagenet.load_published(BY_NAME["DenseNet-R"], path)


def test_zoo_check_lists_found_and_missing_models(tmp_path, capsys):
    from amx.cli import main

    weights = tmp_path / "w"
    weights.mkdir()
    torch.save(_published("MobileNet-R", _original("MobileNet-R")), weights / "mobilenet_l2_eps3.ckpt")
    assert main(["zoo", "check", "--world", "imagenet", "--weights-dir", str(weights)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("MobileNet-R"))
    assert "found" in line and str(weights / "mobilenet_l2_eps3.ckpt") in line and "Salman" in line
    assert "MISSING" in next(x for x in out.splitlines() if x.startswith("PGD-1 "))
    assert "1 of 12 models found" in out
