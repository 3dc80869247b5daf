"""The claims pipeline: cache, subsets, ScoreTable, and run() computing only what is missing."""

import dataclasses
import importlib

import numpy as np
import pandas as pd
import pytest

from amx.pipeline import RunConfig, load_table, run, save_table, subsets
from amx.pipeline.store import Store, content_key, decode_map, encode_map
from amx.zoo import mini as zoo_mini
from amx.zoo import registry

METRICS = ("pointing_game", "wsl", "insertion", "deletion")
PAIR = ("vanilla", "pgd")
CHEAP = dict(methods=("gradient", "cam", "gradcam"), metrics=METRICS, n_images=4, chunk_images=2, pair=PAIR)


def _computed(result, stage="attribute"):
    return {(s.model, s.method): s.images for s in result.stages if s.stage == stage}


def test_maps_round_trip_through_float16_with_their_scale(tmp_path):
    rng = np.random.default_rng(0)
    big = rng.normal(0, 1e6, (8, 8)).astype(np.float32)  # would overflow a plain float16
    scale, data = encode_map(big)
    back = decode_map(8, 8, scale, data)
    np.testing.assert_allclose(back, big, rtol=1e-3, atol=1e-3 * np.abs(big).max())
    store = Store(tmp_path)
    store.put_maps([("k", big, 0.5), ("zero", np.zeros((8, 8), np.float32), 0.1)], device="cpu A",
                   of=("resnet-mini", "gradient"))
    maps = store.get_maps(["k", "zero", "absent"])
    assert set(maps) == {"k", "zero"} and not maps["zero"].any()
    assert store.labelled("maps") == {"k": ("resnet-mini", "gradient"), "zero": ("resnet-mini", "gradient")}
    assert store.get_runtimes(["k", "zero"], "cpu A") == {"k": 0.5, "zero": 0.1}
    assert store.get_runtimes(["k"], "gpu B") == {}  # runtimes are kept per device


def test_a_failing_write_stores_nothing_of_its_batch(tmp_path):
    store = Store(tmp_path)
    bad = np.full((4, 4), np.nan, np.float32)
    with pytest.raises(ValueError, match="NaN"):
        store.put_maps([("good", np.ones((4, 4), np.float32), 0.0), ("bad", bad, 0.0)], device="cpu",
                       of=("m", "gradient"))
    assert store.counts()["maps"] == 0 and store.labelled("maps") == {}


def test_a_corrupt_cache_file_is_named(tmp_path):
    (tmp_path / "store.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(RuntimeError, match="store.sqlite: not a readable amx store"):
        Store(tmp_path)


def test_content_keys_depend_on_every_part():
    base = dict(model="abc", method="rise", config={"n_masks": 10}, image=3)
    assert content_key(**base) == content_key(**dict(reversed(list(base.items()))))
    for part, other in [("model", "abd"), ("config", {"n_masks": 11}), ("image", 4)]:
        assert content_key(**{**base, part: other}) != content_key(**base)


def test_subsets_filter_and_draw_reproducibly():
    boxes = [np.array([[0, 0, 9, 9]]), np.array([[0, 0, 63, 63]]), np.array([[5, 5, 40, 40]]),
             np.array([[1, 1, 2, 2], [20, 20, 30, 30]])]
    assert subsets.eligible(boxes, 64).tolist() == [True, False, True, False]  # one box of <= 50%
    both = np.array([True, True, True, False])
    chosen = subsets.cl_images([both, np.array([True, True, False, True])], np.ones(4, bool), 1, 0, "x")
    assert chosen.tolist() in ([0], [1])
    drawn = subsets.draw(np.arange(100), 5, 3, "x")
    assert drawn.tolist() == subsets.draw(np.arange(100), 5, 3, "x").tolist()
    with pytest.raises(ValueError, match="CL subset of resnet: only 1 candidate images for n=2"):
        subsets.cl_images([both, np.array([True, False, False, False])], np.ones(4, bool), 2, 0, "resnet")


def test_run_builds_the_score_table_then_computes_nothing_again(tmp_path):
    config = RunConfig(models=("resnet-mini", "alexnet-mini"), **CHEAP)
    result = run(config, cache=tmp_path, progress=False)
    table = result.table
    assert len(table) == 2 * 3 * 4
    cam_on_alexnet = table[(table["model"] == "alexnet-mini") & (table["method"] == "cam")]
    assert (cam_on_alexnet["status"] == "n/a").all() and cam_on_alexnet["pointing_game"].isna().all()
    assert "not global-average-pooling" in cam_on_alexnet["note"].iloc[0]
    ok = table[table["status"] == "ok"]
    assert ok[["pointing_game", "wsl", "insertion", "deletion", "runtime_s"]].notna().all().all()
    assert ok["correct"].all()  # CL images: both twins classify them correctly
    assert set(ok["wsl"]) <= {0.0, 1.0} and ok["wsl_iou"].between(0, 1).all()
    # the confidence-normalised AUCs: AUC / p(label | image), the table's confidence
    for metric in ("insertion", "deletion"):
        np.testing.assert_allclose(ok[f"{metric}_normalized"], ok[metric] / ok["confidence"], rtol=1e-5)
    assert _computed(result) == {(m, k): 4 for m in ("resnet-mini", "alexnet-mini")
                                 for k in ("gradient", "cam", "gradcam") if (m, k) != ("alexnet-mini", "cam")}
    assert set(result.throughput) == {"resnet-mini", "alexnet-mini"}
    measured = [s for s in result.stages if s.stage != "predict"]  # the methods' and metrics' stages
    floor = sum(s.forwards * result.throughput[s.model]["forward"]
                + s.forward_backwards * result.throughput[s.model]["forward_backward"] for s in measured)
    seconds = sum(s.seconds for s in measured)
    assert result.efficiency == {"floor_seconds": round(floor, 1), "stage_seconds": round(seconds, 1),
                                 "efficiency": round(floor / seconds, 3)}
    gradient_stage = next(s for s in result.stages if (s.model, s.method) == ("resnet-mini", "gradient"))
    assert (gradient_stage.forwards, gradient_stage.forward_backwards) == (0, 4)  # one backward per map
    again = run(config, cache=tmp_path, progress=False)
    assert again.stages == [] and again.efficiency["efficiency"] is None
    pd.testing.assert_frame_equal(again.table, table)
    stored = again.maps.get("resnet-mini", ["gradient", "cam"], result.subsets["resnet-mini"][:2])
    assert {m: sorted(v) for m, v in stored.items()} == {m: sorted(result.subsets["resnet-mini"][:2])
                                                         for m in ("gradient", "cam")}


def test_runtimes_from_another_device_are_re_measured_on_a_sample(tmp_path, monkeypatch):
    pipeline_run = importlib.import_module("amx.pipeline.run")  # the module, not amx.pipeline.run()

    config = RunConfig(models=("resnet-mini",), **{**CHEAP, "methods": ("gradient",), "runtime_sample": 3})
    first = run(config, cache=tmp_path, progress=False)
    assert first.table["runtime_s"].notna().all()
    monkeypatch.setattr(pipeline_run, "device_name", lambda device: "another device")
    moved = run(config, cache=tmp_path, progress=False)
    assert _computed(moved) == {} and _computed(moved, "retime") == {("resnet-mini", "gradient"): 3}
    assert moved.device_name == "another device" and moved.table["runtime_s"].notna().sum() == 3
    pd.testing.assert_frame_equal(moved.table.drop(columns="runtime_s"),
                                  first.table.drop(columns="runtime_s"))
    assert run(config, cache=tmp_path, progress=False).stages == []  # now cached for that device too


def test_a_changed_model_recomputes_only_its_rows(tmp_path, monkeypatch):
    config = RunConfig(models=("resnet-mini", "resnet-mini-R"), **CHEAP)
    first = run(config, cache=tmp_path, progress=False)
    original = registry.specs

    def retrained(world="mini"):
        return {n: dataclasses.replace(s, sha256="0" * 64) if n == "resnet-mini-R" else s
                for n, s in original(world).items()}

    monkeypatch.setattr(registry, "specs", retrained)
    monkeypatch.setattr(zoo_mini, "verify_weights", lambda spec, path: None)  # the "new" file is the old one
    second = run(config, cache=tmp_path, progress=False)
    assert {m for m, _ in _computed(second)} == {"resnet-mini-R"}
    assert {s.model for s in second.stages} == {"resnet-mini-R"}
    mine = second.table["model"] == "resnet-mini"
    pd.testing.assert_frame_equal(second.table[mine], first.table[first.table["model"] == "resnet-mini"])


def test_a_killed_run_resumes_without_losing_finished_chunks(tmp_path, monkeypatch):
    from amx.methods.gradient import Gradient

    config = RunConfig(models=("resnet-mini",), **{**CHEAP, "methods": ("gradient",)})
    calls = {"n": 0}
    real = Gradient.__call__

    def dies_on_second_chunk(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Gradient, "__call__", dies_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        run(config, cache=tmp_path, progress=False)
    monkeypatch.setattr(Gradient, "__call__", real)
    resumed = run(config, cache=tmp_path, progress=False)
    assert _computed(resumed) == {("resnet-mini", "gradient"): 2}  # the first chunk was kept
    fresh = run(config, cache=tmp_path / "fresh", progress=False)
    pd.testing.assert_frame_equal(resumed.table.drop(columns="runtime_s"),
                                  fresh.table.drop(columns="runtime_s"))


def test_score_table_round_trips_and_bad_files_are_named(tmp_path):
    result = run(RunConfig(models=("resnet-mini",), **{**CHEAP, "methods": ("gradient",)}),
                 cache=tmp_path / "cache", progress=False)
    path = save_table(result, tmp_path / "scores.csv")
    back, meta = load_table(path)
    pd.testing.assert_frame_equal(back, result.table, check_dtype=False)
    assert meta["config"]["n_images"] == 4
    assert [(s["stage"], s["method"]) for s in meta["stages"][:3]] == [("predict", None), ("predict", None),
                                                                        ("attribute", "gradient")]
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="other.csv: not an amx ScoreTable, missing columns"):
        load_table(tmp_path / "other.csv")


@pytest.mark.parametrize("kwargs, message", [
    ({"subset": "all"}, "subset: unknown 'all'"), ({"n_images": 0}, "must be >= 1"),
    ({"methods": ()}, "methods and metrics: name at least one of each"),
    ({"pair": None}, r"pair: the CL subset keeps .* name the two, e.g. \('vanilla', 'pgd'\), got None"),
    ({"pair": ("pgd", "pgd")}, "name the two"),
])
def test_bad_run_configs_name_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(**{**CHEAP, **kwargs})


@pytest.mark.parametrize("kwargs, message", [
    ({"metrics": ("auc",)}, "unknown metric 'auc'.*Valid metrics: deletion, energy_pointing_game, insertion"),
    ({"methods": ("saliency",)}, "unknown method 'saliency'.*Valid methods: agi, big, cam"),
])
def test_unknown_methods_and_metrics_list_the_registered_ones(kwargs, message):
    with pytest.raises(KeyError, match=message):
        RunConfig(**{**CHEAP, **kwargs})


def test_unknown_model_lists_the_valid_ones(tmp_path):
    with pytest.raises(KeyError, match="resnet-mini"):
        run(RunConfig(models=("resnet-huge",), **CHEAP), cache=tmp_path, progress=False)


def test_the_plan_counts_the_passes_the_run_makes(tmp_path):
    from amx.pipeline.plan import describe, plan

    config = RunConfig(models=("resnet-mini",), methods=("gradient", "ig", "rise"), pair=PAIR,
                       metrics=("insertion",), n_images=2, chunk_images=2)
    planned = [(s.stage, s.model, s.what, s.forwards, s.forward_backwards) for s in plan(config)]
    result = run(config, cache=tmp_path, progress=False)
    made = [(s.stage, s.model, s.method or s.metric or "", s.forwards, s.forward_backwards)
            for s in result.stages]
    assert made == planned
    assert ("attribute", "resnet-mini", "ig", 0, 2 * 20) in made  # the mini preset's 20 steps on 2 images
    assert made[:2] == [("predict", m, "", 300, 0) for m in ("resnet-mini", "resnet-mini-R")]  # the pool
    assert "total: " in describe(plan(config))
    assert "min (" in describe(plan(config), dict.fromkeys(("resnet-mini", "resnet-mini-R"), (1e-3, 2e-3)))


def test_cuda_out_of_memory_halves_the_batch_and_goes_on():
    import torch

    from amx.pipeline.batching import halving, inputs_per_pass

    tried = []

    def step(size):
        tried.append(size)
        if size > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return size * 10

    assert halving(step, 16, "x", log=lambda msg: None) == (20, 2) and tried == [16, 8, 4, 2]
    with pytest.raises(torch.cuda.OutOfMemoryError, match="resnet ep: out of CUDA memory at 1 input"):
        halving(lambda size: step(99), 1, "resnet ep", log=lambda msg: None)
    assert inputs_per_pass("cpu", 224) is None  # CPU: the methods' own defaults


def test_the_papers_random_set_takes_two_per_class_then_fills_with_the_seed():
    labels = np.array([0, 0, 0, 1, 3, 3, 3, 3, 3, 2])
    ok = np.array([True] * 9 + [False])  # class 2's one image is not eligible
    chosen = subsets.stratified_images(labels, ok, 8, seed=0, n_classes=4)
    assert len(chosen) == 8 and len(set(chosen)) == 8 and ok[chosen].all()
    counts = np.bincount(labels[chosen], minlength=4)
    assert counts[1] == 1 and counts[2] == 0 and counts[0] >= 2 and counts[3] >= 2
    one_each = subsets.stratified_images(labels, ok, 4, seed=0, n_classes=4)  # 1 per class, 1 filled
    assert (np.bincount(labels[one_each], minlength=4)[[0, 1, 3]] >= 1).all() and len(one_each) == 4
    assert np.array_equal(chosen, subsets.stratified_images(labels, ok, 8, seed=0, n_classes=4))
    with pytest.raises(ValueError, match="only 9 eligible images for n=10"):
        subsets.stratified_images(labels, ok, 10, seed=0, n_classes=4)


def test_a_missing_robust_twin_leaves_its_architecture_out_of_a_cl_run():
    from amx.pipeline.run import runnable_models, with_twins

    specs = {n: dataclasses.replace(s, sha256=None) if n == "resnet-mini-R" else s
             for n, s in registry.specs("mini").items()}
    cl = runnable_models(specs, "cl", PAIR)
    assert not {"resnet-mini", "resnet-mini-PGD1", "resnet-mini-PGD5", "resnet-mini-R"} & set(cl)
    assert {"alexnet-mini", "alexnet-mini-R"} <= set(cl) and len(cl) == 8
    assert "resnet-mini" in runnable_models(specs, "random") and len(runnable_models(specs, "random")) == 11
    with pytest.raises(ValueError, match=r"CL subset of resnet: .*\['resnet-mini-R'\] were not found"):
        with_twins(["resnet-mini"], specs, "cl", PAIR)
    # another pair of regimes: a TRADES twin of ResNet makes its own CL set, beside the PGD one
    trades = {**specs, "resnet-mini-T": dataclasses.replace(specs["resnet-mini-PGD1"], name="resnet-mini-T",
                                                            regime="trades")}
    assert with_twins(["resnet-mini"], trades, "cl", ("vanilla", "trades")) == ["resnet-mini",
                                                                              "resnet-mini-T"]
