"""The user's own models from a zoo file (``amx.zoo.file``): a torchvision ResNet-18 (``.pth``) and
a timm ViT-Tiny (``.safetensors``), randomly initialised, on the photos world; each model's head is
set to its class prototypes of the eligible photos (its penultimate features), so that it
classifies them as their labels and the CL subsets are not empty."""

import json
import shutil
from pathlib import Path

import pytest
import timm
import torch
import torchvision
from safetensors.torch import save_file

from amx import methods
from amx.cli import main
from amx.data import imagenet, photos
from amx.data.arrays import DecodedOnRead
from amx.data.worlds import ZOO_FILE, get_world
from amx.files import environment
from amx.methods.base import NotApplicableError
from amx.methods.gradcam import token_grid
from amx.pipeline.store import Store
from amx.session import Session
from amx.zoo import registry
from amx.zoo.architectures import Normalize
from amx.zoo.file import FileZoo, ZooFileError
from evals.unit.test_session import _passes

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
HALF = {"mean": [0.5] * 3, "std": [0.5] * 3}  # timm's ViT-Tiny (augreg) normalisation
ZOO = """
[models.resnet18]
constructor = "torchvision:resnet18"
weights = "resnet18.pth"
family = "resnet"
mean = [0.485, 0.456, 0.406]
std = [0.229, 0.224, 0.225]
cam_layer = "layer4"
gap_head = true

[models.vit-tiny]
constructor = "timm:vit_tiny_patch16_224"
weights = "vit_tiny.safetensors"
family = "vit"
mean = [0.5, 0.5, 0.5]
std = [0.5, 0.5, 0.5]
cam_layer = "blocks.11.norm1"
"""


def _photos() -> tuple[torch.Tensor, torch.Tensor]:
    """The eligible photos of the photos world (the pool) at 224 px in [0, 1], and their labels."""
    files = imagenet.render_split(photos.ROOT, "eval", photos.n_eligible())
    return torch.from_numpy(DecodedOnRead(files)[:]).float() / 255, torch.from_numpy(files.labels)


def _prototype_head(net: torch.nn.Module, head: torch.nn.Linear, norm: dict, images, labels) -> None:
    """Row ``label`` of ``head`` := 100 x the unit direction of the mean centred penultimate
    features of that label's photos, its bias cancelling the mean: a photo's own label tends to
    have the largest logit (two photos of one label share a row)."""
    seen = {}
    handle = head.register_forward_hook(lambda m, i, o: seen.setdefault("f", i[0].detach()))
    with torch.no_grad():
        net.eval()(Normalize(norm["mean"], norm["std"])(images))
        handle.remove()
        features = seen["f"]
        centre = features.mean(0)
        head.weight.mul_(0.01)
        head.bias.zero_()
        for label in labels.unique():
            direction = torch.nn.functional.normalize((features[labels == label] - centre).mean(0), dim=0)
            head.weight[label] = 100 * direction
            head.bias[label] = -(100 * direction @ centre)


@pytest.fixture(scope="module")
def zoo_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("zoo")
    images, labels = _photos()
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18()
    _prototype_head(resnet, resnet.fc, IMAGENET, images, labels)
    torch.save(resnet.state_dict(), folder / "resnet18.pth")
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    _prototype_head(vit, vit.head, HALF, images, labels)
    save_file(vit.state_dict(), folder / "vit_tiny.safetensors")
    (folder / "zoo.toml").write_text(ZOO)
    return folder / "zoo.toml"


@pytest.fixture
def with_zoo(zoo_file):
    with environment({ZOO_FILE.env: str(zoo_file)}):
        yield zoo_file


def test_the_zoo_file_replaces_the_worlds_zoo(with_zoo, capsys):
    world = get_world("photos")
    specs = registry.specs("photos")
    assert list(specs) == ["resnet18", "vit-tiny"] and str(with_zoo) in world.description
    assert specs["vit-tiny"].cam_layer == "net.blocks.11.norm1" and not specs["vit-tiny"].gap_head
    resnet = specs["resnet18"]
    assert resnet.weights_source == "file" and resnet.fingerprint != resnet.sha256
    images, labels = _photos()
    for name in specs:
        with torch.no_grad():
            right = (registry.load(name, "photos")(images).argmax(1) == labels).sum().item()
        assert right >= 11, (name, right)  # of 13 (two share the jeep's row)
    assert main(["zoo", "list", "--world", "photos", "--zoo", str(with_zoo)]) == 0
    assert "vit-tiny" in capsys.readouterr().out


def test_vit_gradcam_is_pytorch_grad_cams_with_its_reshape_transform(with_zoo):
    """pytorch-grad-cam's ViT example: the last block's ``norm1`` tokens, the class token dropped,
    reshaped to the 14 x 14 grid; it min-max scales the map, so amx's is compared after the same."""
    from pytorch_grad_cam import GradCAM as ReferenceGradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = registry.load("vit-tiny", "photos")
    images, labels = _photos()
    images, labels = images[:3], labels[:3]
    tokens = {}
    layer = model.get_submodule(model.cam_layer)
    handle = layer.register_forward_hook(lambda m, i, o: tokens.setdefault("t", o))
    ours = methods.get("gradcam")(model, images, labels)
    handle.remove()
    assert tokens["t"].shape == (3, 197, 192) and token_grid(tokens["t"]).shape == (3, 192, 14, 14)

    def reshape(t, height=14, width=14):
        return t[:, 1:, :].reshape(t.size(0), height, width, t.size(2)).permute(0, 3, 1, 2)

    with ReferenceGradCAM(model=model, target_layers=[layer], reshape_transform=reshape) as reference:
        targets = [ClassifierOutputTarget(int(t)) for t in labels]
        theirs = reference(input_tensor=images.clone(), targets=targets)
    low = ours.amin((1, 2), keepdim=True)
    scaled = (ours - low) / ((ours.amax((1, 2), keepdim=True) - low) + 1e-7)
    assert ours.shape == (3, 224, 224)
    torch.testing.assert_close(scaled, torch.from_numpy(theirs), rtol=0, atol=1e-4)


def test_cam_does_not_apply_to_the_vit_and_says_why(with_zoo):
    images, labels = _photos()
    with pytest.raises(NotApplicableError, match="cam does not apply to model 'vit-tiny'"):
        methods.get("cam")(registry.load("vit-tiny", "photos"), images[:1], labels[:1])


@pytest.fixture(scope="module")
def photos_run(zoo_file, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    with environment({ZOO_FILE.env: str(zoo_file)}):
        session = Session(get_world("photos"), n_images=2, preset="smoke", cache=str(cache), progress=False)
        planned = session.plan()
        session.run()
        judge = session.judge()
        yield session, planned, judge, cache


def test_the_photos_claims_run_on_the_zoo_file(photos_run):
    session, planned, judge, _ = photos_run
    assert _passes(session.ledger) == _passes(planned)
    table = session.results_of[next(q for q in session.results_of if type(q).__name__ == "Scores")].table
    assert set(table["model"]) == {"resnet18", "vit-tiny"}
    vit = table[table["model"] == "vit-tiny"]
    assert (vit[vit["method"] == "cam"]["status"] == "n/a").all()
    assert (vit[vit["method"] != "cam"]["status"] == "ok").all()  # every other method runs on the ViT
    outcomes = {e["outcome"] for e in judge.entries}
    assert outcomes & {"passed", "failed"} and "error" not in outcomes
    na = {e["case_id"]: e["reason"] for e in judge.entries if e["outcome"] == "not applicable"}
    assert any("needs vanilla, pgd models" in why or "needs pgd" in why for why in na.values())


BAD = {  # case: (a line added to resnet18's table, what the error says after "model 'resnet18', ")
    "unknown key": ('cam_layr = "layer4"\n', "key 'cam_layr': unknown key; did you mean 'cam_layer'?"),
    "missing weights": ("", "key 'weights': no file"),
    "unknown constructor": ("", "key 'constructor': 'torchvision:resnet81' cannot be built"),
    "regime typo": ('regime = "pdg"\n',
                    "key 'regime': 'pdg' is a regime no claim set compares. Did you mean 'pgd'?"),
    "wrong shapes": ("", "key 'weights': resnet18.pth does not fit torchvision:resnet34"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_zoo_file_names_file_model_and_key_and_loses_nothing(case, zoo_file, photos_run, tmp_path):
    _, _, _, cache = photos_run
    before = Store(cache).counts()
    folder = tmp_path / "bad"
    shutil.copytree(zoo_file.parent, folder)
    text = ZOO.split("[models.vit-tiny]")[0]
    extra, message = BAD[case]
    text = text.replace('family = "resnet"\n', f'family = "resnet"\n{extra}')
    if case == "missing weights":
        (folder / "resnet18.pth").unlink()
    if case == "unknown constructor":
        text = text.replace("torchvision:resnet18", "torchvision:resnet81")
    if case == "wrong shapes":
        text = text.replace("torchvision:resnet18", "torchvision:resnet34")
    (folder / "zoo.toml").write_text(text)
    with pytest.raises(ZooFileError) as raised:
        with environment({ZOO_FILE.env: str(folder / "zoo.toml")}):
            registry.load("resnet18", "photos")
    assert str(raised.value).startswith(f"zoo file {folder / 'zoo.toml'}, model 'resnet18', ")
    assert message in str(raised.value)
    assert Store(cache).counts() == before and sum(before.values()) > 0


def test_the_fingerprint_follows_the_weights_and_the_recipe(zoo_file, tmp_path):
    base = FileZoo.read(zoo_file).specs(get_world("photos"))["resnet18"]
    copy = tmp_path / "zoo.toml"
    for name in ("resnet18.pth", "vit_tiny.safetensors"):
        shutil.copy(zoo_file.parent / name, tmp_path / name)
    copy.write_text(ZOO)
    same = FileZoo.read(copy).specs(get_world("photos"))["resnet18"]
    assert same.fingerprint == base.fingerprint  # the weights' bytes and the recipe, not the path
    copy.write_text(ZOO.replace("std = [0.229, 0.224, 0.225]", "std = [0.25, 0.25, 0.25]", 1))
    assert FileZoo.read(copy).specs(get_world("photos"))["resnet18"].fingerprint != base.fingerprint
    copy.write_text(ZOO)
    state = torch.load(tmp_path / "resnet18.pth", weights_only=True)
    state["fc.bias"] += 1
    torch.save(state, tmp_path / "resnet18.pth")
    changed = FileZoo.read(copy).specs(get_world("photos"))["resnet18"]
    assert changed.sha256 != base.sha256 and changed.fingerprint != base.fingerprint
    assert json.loads(changed.recipe)["constructor"] == "torchvision:resnet18"


def test_the_commands_take_the_zoo_file_and_name_a_bad_one(zoo_file, tmp_path, capsys):
    assert main(["zoo", "check", "--world", "photos", "--zoo", str(zoo_file)]) == 0
    assert "2 of 2 models found" in capsys.readouterr().out
    assert main(["run", "--world", "photos", "--zoo", str(zoo_file), "--n-images", "1", "--preset", "smoke",
                 "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "vit-tiny" in plan and "resnet18" in plan and "EfficientNet" not in plan
    bad = zoo_file.parent / "bad.toml"
    bad.write_text(ZOO.replace('constructor = "timm:vit_tiny_patch16_224"', 'constructor = "timm:vit_tiny"'))
    assert main(["zoo", "list", "--world", "photos", "--zoo", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"zoo file {bad}, model 'vit-tiny', key 'constructor'" in err
    assert "timm has no model 'vit_tiny'" in err
