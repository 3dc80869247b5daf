"""The ``amx`` command line: zoo listing, the metrics benchmark, and the errors a user sees."""

import json

import pytest

from amx.cli import main
from amx.zoo import registry


def test_zoo_list_prints_all_twelve_models(capsys):
    assert main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    for name in registry.specs("mini"):
        assert name in out


def test_zoo_eval_unknown_model_exits_2_and_lists_valid_names(capsys):
    assert main(["zoo", "eval", "--model", "resnet-mni"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'resnet-mni'" in err and "Did you mean 'resnet-mini'" in err


def test_unknown_world_exits_2_and_lists_valid_worlds(capsys):
    assert main(["zoo", "list", "--world", "imagenet-tiny"]) == 2
    assert "Did you mean 'imagenet'? Valid worlds: imagenet, mini, photos" in capsys.readouterr().err


def test_amx_run_defaults_to_what_the_claim_sets_need_and_writes_the_table(tmp_path, capsys):
    from amx.pipeline import load_table

    assert main(["run", "--models", "resnet-mini", "--methods", "gradient", "--n-images", "2",
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "run")]) == 0
    table, meta = load_table(tmp_path / "run" / "scores.csv")
    assert meta["config"]["metrics"] == ["pointing_game", "wsl", "insertion", "deletion"]  # claim set 001's
    assert meta["config"]["preset"] is None  # the world's presets:
    assert meta["metric_configs"]["insertion"]["n_steps"] == 16
    assert len(table) == 2 and "insertion_normalized" in table
    assert "2 rows (0 N/A, 0 failed)" in capsys.readouterr().out


def test_bench_metrics_writes_the_speed_and_equality_check(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "metrics", "--n-images", "2", "--reference-images", "1",
                 "--batch-size", "64", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["aucs_equal"] and result["max_abs_auc_difference"] <= 1e-5
    assert result["n_steps"] == 112 and result["machine"]["device"] == "cpu"
    # the floor is 2 n forwards per image at the model's rate (the zero substrate's one forward serves
    # every image); efficiency = measured / floor
    assert result["floor_images_per_s"] == pytest.approx(result["forward_images_per_s"] / 224, rel=0.005)
    measured, floor = result["batched_images_per_s"], result["floor_images_per_s"]
    assert result["efficiency"] == pytest.approx(measured / floor, rel=0.02)
    assert result["speedup_vs_reference"] == pytest.approx(
        result["batched_images_per_s"] / result["reference_images_per_s"], rel=0.05)
    road = result["road"]  # ROAD's floor is 2 x 7 forwards per image
    assert road["floor_images_per_s"] == pytest.approx(result["forward_images_per_s"] / 14, rel=0.02)
    assert road["max_abs_probability_difference"] <= 1e-5
    localisation = result["localisation"]  # no model pass: against the reference's own algorithm
    assert set(localisation) == {"max_box_acc_v2", "pxap"}
    assert all(row["abs_difference"] <= 1e-3 and row["speedup"] > 0 for row in localisation.values())
    assert "written to" in capsys.readouterr().out


def test_bench_metrics_rejects_more_reference_images_than_images(capsys):
    assert main(["bench", "metrics", "--n-images", "2", "--reference-images", "3"]) == 2
    assert "reference_images must be in 1..n_images=2" in capsys.readouterr().err


def test_bench_methods_writes_floor_efficiency_and_reference_per_method(tmp_path):
    out = tmp_path / "methods.json"
    assert main(["bench", "methods", "--n-images", "2", "--method", "gradient", "--method", "cam",
                 "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    rows = {r["method"]: r for r in result["methods"]}
    assert rows["gradient"]["forward_backwards"] == 1 and rows["cam"]["forwards"] == 1
    assert rows["gradient"]["reference_ms_per_image"] > 0  # TorchRay's gradient
    assert rows["cam"]["reference_ms_per_image"] is None   # no library reference for CAM
    for r in rows.values():  # floor = the method's passes at the model's rates; efficiency = floor / measured
        floor = (r["forwards"] * result["forward_ms_per_image"]
                 + r["forward_backwards"] * result["forward_backward_ms_per_image"])
        assert r["floor_ms_per_image"] == pytest.approx(floor, rel=0.02, abs=0.01)
        # the ms are rounded to 0.01 (a CAM pass is below 0.1 ms), the efficiency to 0.001
        low = (r["floor_ms_per_image"] - 0.005) / (r["ms_per_image"] + 0.005) - 0.0005
        high = (r["floor_ms_per_image"] + 0.005) / max(r["ms_per_image"] - 0.005, 1e-9) + 0.0005
        assert low <= r["efficiency"] <= high
    assert result["min_efficiency"] == min(r["efficiency"] for r in rows.values())


def test_the_224_px_bench_gives_shap_a_background_of_its_size():
    import torch

    import amx.methods.shap
    from amx.bench.methods import _background_for

    images = torch.rand(2, 3, 224, 224)
    with _background_for("resnet50-random", images):
        assert amx.methods.shap.background_images("mini", 4).shape == (4, 3, 224, 224)
    assert amx.methods.shap.background_images("mini", 4).shape == (4, 3, 64, 64)
