"""The imagenet world end to end on the CPU: a small Kaggle-layout tree and a randomly initialised
ResNet-50-R in the ``robustness`` format go through the CLI, the reader and the pipeline."""

import argparse

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from amx.cli import main
from amx.data import imagenet
from amx.pipeline import load_table


@pytest.fixture
def user_files(tmp_path, monkeypatch):
    """A Kaggle tree of 5 images (4 eligible) and a weights dir holding only ResNet-R."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for env in (imagenet.ROOT_ENV, "AMX_WEIGHTS"):
        monkeypatch.delenv(env, raising=False)
    images, xml = tmp_path / "data/ILSVRC/Data/CLS-LOC/val", tmp_path / "data/ILSVRC/Annotations/CLS-LOC/val"
    images.mkdir(parents=True)
    xml.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k, (wnid, box) in enumerate([("n02123045", (10, 10, 100, 100)), ("n07920052", (50, 40, 200, 150)),
                                     ("n04485082", (0, 0, 299, 199)), ("n03773504", (5, 5, 60, 190)),
                                     ("n03877845", (100, 20, 250, 180))]):
        stem = f"ILSVRC2012_val_{k + 1:08d}"
        Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)).save(images / f"{stem}.JPEG")
        (xml / f"{stem}.xml").write_text(
            f"<annotation><size><width>300</width><height>200</height></size><object><name>{wnid}</name>"
            f"<bndbox><xmin>{box[0]}</xmin><ymin>{box[1]}</ymin><xmax>{box[2]}</xmax><ymax>{box[3]}</ymax>"
            "</bndbox></object></annotation>")
    weights = tmp_path / "weights"
    weights.mkdir()
    state = torchvision.models.resnet50(weights=None).state_dict()
    torch.save({"model": {f"module.model.{k}": v for k, v in state.items()}, "epoch": 1,
                "args": argparse.Namespace(eps=3.0)}, weights / "imagenet_l2_3_0.pt")
    imagenet.read_index.cache_clear()
    return tmp_path / "data", weights, tmp_path


def test_amx_run_on_the_imagenet_world_scores_maps_of_a_found_model(user_files, capsys):
    root, weights, tmp = user_files
    args = ["run", "--world", "imagenet", "--imagenet-root", str(root), "--weights-dir", str(weights),
            "--models", "ResNet-R", "--methods", "gradient", "gradcam", "--metrics", "pointing_game", "wsl",
            "--subset", "random", "--n-images", "2", "--cache-dir", str(tmp / "cache")]
    assert main([*args, "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "predict   ResNet-R" in plan and "attribute ResNet-R              gradcam" in plan
    assert "min (" in plan  # priced at a throughput probe
    assert main([*args, "--out", str(tmp / "run")]) == 0
    table, meta = load_table(tmp / "run" / "scores.csv")
    assert len(table) == 2 * 2 and set(table["model"]) == {"ResNet-R"}
    assert table["pointing_game"].notna().all() and set(table["label"]) <= {281, 967, 657, 698}
    assert meta["config"]["world"] == "imagenet"


def test_a_claims_run_without_the_data_or_any_weights_is_a_usage_error_naming_them(pytester,
                                                                                  user_files):
    root, weights, _ = user_files
    pytester.makepyfile(test_claims="from amx.claims.suite import test_claim  # noqa: F401\n")
    claims = ("-m", "claims", "--world", "imagenet", "-p", "no:cacheprovider")
    result = pytester.runpytest_subprocess(*claims, "--imagenet-root", str(root))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*none of the 12 models of world 'imagenet' was found*looked for *.pth* and "
                                 "8 more in *torch/hub/checkpoints*amx zoo check*"])
    result = pytester.runpytest_subprocess(*claims, "--weights-dir", str(weights))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pass --imagenet-root DIR or set $AMX_IMAGENET*"])


def test_a_dry_run_without_any_weights_names_them_and_fails(user_files, capsys):
    root, _, tmp = user_files
    empty = tmp / "no-weights"
    empty.mkdir()
    assert main(["run", "--world", "imagenet", "--imagenet-root", str(root), "--weights-dir", str(empty),
                 "--dry-run"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no empty plan
    assert "none of the 12 models of world 'imagenet' was found" in captured.err
    assert f"in {empty}, " in captured.err and "amx zoo check --world imagenet" in captured.err
