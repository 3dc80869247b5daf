"""The amx pytest plugin, exercised in-process with pytester."""

import json

import pytest
import torch

import amx

# pytester runs in-process and drops the modules a run imported; the report's modules (numpy's
# fft, matplotlib) cannot be imported twice in one process, so they are imported here, once.
import amx.claims.paper  # noqa: F401
import amx.report  # noqa: F401

MARKED = """
import pytest

@pytest.mark.claims
def test_a_claim(amx_session):
    assert amx_session.world.name == "mini"

def test_plain():
    pass
"""


def test_claims_marker_is_registered_and_selects(pytester):
    pytester.makepyfile(MARKED)
    result = pytester.runpytest("--strict-markers", "-m", "claims")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["amx: world=mini device=cpu n_images=100 seed=0 claim sets=001,002,003,004"])


def test_the_plugin_itself_deselects_nothing(pytester):
    """Only the project's addopts (-m 'not claims') keep the claims out of the test suite."""
    pytester.makepyfile(MARKED)
    pytester.runpytest("--strict-markers").assert_outcomes(passed=2)


def test_options_are_documented_in_help(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*amx: regenerate explainability claims*", "*--gpu*", "*--world*",
                                 "*--n-images*", "*--seed*"])


def test_unknown_world_is_a_usage_error_listing_the_valid_ones(pytester):
    pytester.makepyfile(MARKED)
    result = pytester.runpytest("--world", "imagenet-tiny")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--world: unknown world 'imagenet-tiny'*Valid worlds: imagenet, mini, *"])


def test_non_positive_n_images_is_a_usage_error(pytester):
    pytester.makepyfile(MARKED)
    result = pytester.runpytest("--n-images", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--n-images must be a positive integer, got 0*"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_gpu_without_cuda_is_a_clear_usage_error(pytester):
    pytester.makepyfile(MARKED)
    result = pytester.runpytest("--gpu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--gpu was given but torch * sees no CUDA device*"])


JUDGED = """
import os
import pytest
from amx.claims.spec import Verdict

pytestmark = pytest.mark.claims

@pytest.mark.parametrize("name", ["a", "b", "c"])
def test_P9(name, amx_session):
    passed = os.environ["AMX_TEST_VERDICTS"].split(",")[["a", "b", "c"].index(name)] == "1"
    amx_session.judge(Verdict(case_id=f"P9[{name}]", passed=passed, statistic=0.5 if passed else 0.1,
                              threshold="> 0.3", paper_value=0.78, message=f"P9[{name}]: made up",
                              p_value=0.01, ci=(0.1, 0.9), n=10))
"""


def _run_judged(pytester, monkeypatch, verdicts, *args):
    monkeypatch.setenv("AMX_TEST_VERDICTS", verdicts)
    return pytester.runpytest("-m", "claims", "--report-dir", "out", *args)


def test_judged_claims_write_the_report_also_when_they_fail(pytester, monkeypatch):
    import json

    pytester.makepyfile(JUDGED)
    result = _run_judged(pytester, monkeypatch, "1,0,1")
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    assert "P9[b]: made up" in out
    assert out.index("P9[b]: made up") < out.index("amx: 0 of 1 claims hold; report out/claims.html")
    results = json.loads((pytester.path / "out" / "results.json").read_text())
    assert [c["outcome"] for c in results["cases"]] == ["passed", "failed", "passed"]
    p9 = next(row for row in results["summary"] if row["claim"] == "P9")
    assert (p9["cases"], p9["passed"], p9["holds"]) == (3, 2, False)
    assert p9["headline"]["case_id"] == "P9[a]"  # P9's headline case (image) was not run: the first
    html = (pytester.path / "out" / "claims.html").read_text()
    assert "P9[b]" in html and "0 of 1 claims hold" in html and "no baseline" in html


def test_baseline_turns_known_failures_into_xfail_and_flips_into_failures(pytester, monkeypatch):
    import json

    pytester.makepyfile(JUDGED)
    _run_judged(pytester, monkeypatch, "1,0,1", "--baseline", "base.json", "--update-baseline")
    baseline = json.loads((pytester.path / "base.json").read_text())
    recorded = ("world", "world_version", "n_images", "seed", "device", "amx_version")
    assert {k: baseline[k] for k in recorded} == {"world": "mini", "world_version": 3, "n_images": 100,
                                                   "seed": 0, "device": "cpu", "amx_version": amx.__version__}
    assert baseline["cases"]["P9[b]"] == {"passed": False, "statistic": 0.1}
    same = _run_judged(pytester, monkeypatch, "1,0,1", "--baseline", "base.json")
    same.assert_outcomes(passed=2, xfailed=1)
    flipped = _run_judged(pytester, monkeypatch, "1,1,0", "--baseline", "base.json")
    flipped.assert_outcomes(passed=1, failed=2)
    out = flipped.stdout.str()
    assert ("P9[b]: verdict flipped against the baseline base.json (flipped: failed, now holds): "
            "statistic 0.1 -> 0.5") in out
    assert "P9[c]: verdict flipped against the baseline base.json (flipped: held, now fails)" in out
    results = json.loads((pytester.path / "out" / "results.json").read_text())
    assert [c["outcome"] for c in results["cases"]] == ["passed", "flipped", "flipped"]


STABILITY_JUDGED = """
import os
import pytest
from amx.claims.spec import Verdict
from amx.claims.stability import Stability

pytestmark = pytest.mark.claims

@pytest.mark.parametrize("name", ["a", "b", "c"])
def test_P9(name, amx_session):
    k = ["a", "b", "c"].index(name)
    passed = os.environ["AMX_TEST_VERDICTS"].split(",")[k] == "1"
    share = float(os.environ["AMX_TEST_SHARES"].split(",")[k])
    amx_session.judge(Verdict(case_id=f"P9[{name}]", passed=passed, statistic=float(passed),
                              threshold="> 0.3", paper_value=None, message=f"P9[{name}]: made up"),
                      Stability(share, 200, amx_session.session.stability.label(share, passed)))
"""


def test_a_stable_flip_fails_a_borderline_flip_is_reported_strict_verdicts_fail(pytester, monkeypatch):
    pytester.makepyfile(STABILITY_JUDGED)
    monkeypatch.setenv("AMX_TEST_SHARES", "1.0,0.6,0.02")
    _run_judged(pytester, monkeypatch, "1,1,0", "--baseline", "base.json", "--update-baseline")
    baseline = json.loads((pytester.path / "base.json").read_text())
    assert baseline["cases"]["P9[b]"] == {"passed": True, "statistic": 1.0,
                                          "stability": {"share": 0.6, "label": "borderline"}}
    assert baseline["stability"] == {"resamples": 200, "stable_share": 0.95}
    # a: stable in both runs, flips (fails); b: borderline in the baseline, flips to failing
    # (reported, an expected failure); c: stable before, borderline now, flips to holding (passes)
    monkeypatch.setenv("AMX_TEST_SHARES", "0.0,0.3,0.7")
    result = _run_judged(pytester, monkeypatch, "0,0,1", "--baseline", "base.json")
    result.assert_outcomes(failed=1, xfailed=1, passed=1)
    result.stdout.fnmatch_lines(["*amx: borderline flips*",
                                 "2 verdict(s) flipped against the baseline where the case is borderline*",
                                 "  P9[[]b[]]: borderline flip: held, now fails (holds in 60% -> 30% of *",
                                 "  P9[[]c[]]: borderline flip: failed, now holds (holds in 2% -> 70% of *"])
    assert "P9[a]: verdict flipped against the baseline base.json" in result.stdout.str()
    results = json.loads((pytester.path / "out" / "results.json").read_text())
    assert [c["outcome"] for c in results["cases"]] == ["flipped", "borderline flip", "borderline flip"]
    assert results["cases"][1]["stability"] == {"share": 0.3, "n_draws": 200, "label": "borderline"}
    assert "Borderline flips" in (pytester.path / "out" / "claims.html").read_text()
    strict = _run_judged(pytester, monkeypatch, "0,0,1", "--baseline", "base.json", "--strict-verdicts")
    strict.assert_outcomes(failed=3)


def test_stable_share_sets_the_bounds_and_is_validated(pytester, monkeypatch):
    pytester.makepyfile(STABILITY_JUDGED)
    monkeypatch.setenv("AMX_TEST_SHARES", "0.85,0.5,0.1")
    _run_judged(pytester, monkeypatch, "1,1,0", "--stable-share", "0.8")
    results = json.loads((pytester.path / "out" / "results.json").read_text())
    assert [c["stability"]["label"] for c in results["cases"]] == ["stable", "borderline", "stable"]
    bad = pytester.runpytest("-m", "claims", "--stable-share", "0.5")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--stable-share must be in (0.5, 1]*"])


@pytest.mark.parametrize("args, message", [
    (["--baseline", "missing.json"], "*--baseline: no file missing.json; create it with --update-baseline*"),
    (["--update-baseline"], "*--update-baseline needs --baseline PATH*"),
])
def test_baseline_usage_errors(pytester, args, message):
    pytester.makepyfile(MARKED)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_a_baseline_of_another_setting_warns_and_of_another_world_version_is_an_error(pytester, monkeypatch):
    pytester.makepyfile(JUDGED)
    _run_judged(pytester, monkeypatch, "1,0,1", "--baseline", "base.json", "--update-baseline")
    other_seed = _run_judged(pytester, monkeypatch, "1,0,1", "--baseline", "base.json", "--seed", "3")
    other_seed.assert_outcomes(passed=2, xfailed=1)
    other_seed.stdout.fnmatch_lines(["*AmxBaselineWarning: --baseline base.json was recorded with seed 0, "
                                     "this session has 3*"])
    results = json.loads((pytester.path / "out" / "results.json").read_text())
    assert results["provenance"]["baseline"]["warnings"] == [
        "--baseline base.json was recorded with seed 0, this session has 3"]
    baseline = json.loads((pytester.path / "base.json").read_text())
    (pytester.path / "base.json").write_text(json.dumps({**baseline, "world_version": 2}))
    stale = _run_judged(pytester, monkeypatch, "1,0,1", "--baseline", "base.json")
    assert stale.ret == pytest.ExitCode.USAGE_ERROR
    stale.stderr.fnmatch_lines(["*--baseline: base.json was recorded with world_version 2, this session "
                                "runs with 3*"])


# A researcher's own package, outside amx: a world (16-px images with boxes), its one-model zoo, a
# metric and a claim set with one case built to pass and one built to fail, registered through
# amx's entry-point groups. The test installs it by putting it and its dist-info on PYTHONPATH.
TOY_PACKAGE = """
from dataclasses import dataclass

import numpy as np
import torch

from amx.attacks import PGDConfig
from amx.claims.spec import Case, Claim, ClaimSet, Greater, verdict
from amx.data.worlds import World
from amx.evidence import Request, Scores
from amx.metrics import MetricSpec
from amx.zoo.spec import ModelSpec

SIZE = 16


def render(split, n, workers=1):
    rng = np.random.default_rng([7, ("train", "val", "eval").index(split)])
    images = rng.integers(0, 80, (n, 3, SIZE, SIZE)).astype(np.uint8)
    labels, boxes = rng.integers(0, 2, n), []
    for i in range(n):
        x, y = rng.integers(0, SIZE - 6, 2)
        images[i, labels[i], y:y + 6, x:x + 6] = 255  # a bright square: red for class 0, green for 1
        boxes.append(np.array([[x, y, x + 5, y + 5]]))
    return images, labels, boxes


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 2, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, 0, 1, 1] = self.conv.weight[1, 1, 1, 1] = 1.0
            self.conv.bias.zero_()

    def forward(self, x):
        return self.conv(x).mean((2, 3)) * 10


class Zoo:
    def specs(self, world):
        return {"toy-net": ModelSpec(name="toy-net", world=world.name, architecture="toy", regime="vanilla",
                                     weights="code", weights_source="code", sha256="70" * 32, input_size=SIZE,
                                     n_classes=2, mean=(0, 0, 0), std=(1, 1, 1), cam_layer="conv",
                                     gap_head=True)}

    def load(self, spec, device):
        return Net().eval().to(device)


WORLD = World(name="toy", version=1, seed=0, image_size=SIZE, n_classes=2, splits=("eval",), render=render,
              zoo=Zoo(), attack=PGDConfig(eps=0.1, steps=1), description="16-px squares on noise",
              departures="a toy, not a paper's data", claim_sets=("toy",))


@dataclass(frozen=True)
class MassConfig:
    pass


def box_mass(config, batch):
    out = []
    for m, boxes in zip(batch.maps, batch.boxes):
        inside = torch.zeros_like(m, dtype=torch.bool)
        for x0, y0, x1, y1 in boxes.tolist():
            inside[y0:y1 + 1, x0:x1 + 1] = True
        out.append({"mass": float(m.abs()[inside].sum() / m.abs().sum().clamp_min(1e-12))})
    return out


MASS = MetricSpec("toy_mass", True, MassConfig, "share of the map's mass inside the boxes", box_mass,
                  lambda config, records: {"toy_mass": [r["mass"] for r in records]}, ("toy_mass",))


def mass_case(name, rule):
    def check(evidence):
        mean = float(evidence.ok["toy_mass"].mean())
        cid = f"T{1 if name == 'holds' else 2}[{name}]"
        return verdict(cid, rule, mean, f"{cid}: mean box mass = {mean:.3f} (needs {rule})")
    return Case(f"T{1 if name == 'holds' else 2}", name, check)


RULES = {"holds": Greater(0.05, "mean mass"), "impossible": Greater(2.0, "mean mass")}


class MeanPixel(Request):
    # evidence the claim set computes itself, beside the ScoreTable: the mean of the eval images
    def plan(self, context):
        return []

    def compute(self, context):
        images = context.world.render("eval", context.n_images)[0]
        return {"n": context.n_images, "mean": float(images.mean() / 255)}


def collected_case(evidence):
    found = evidence.collected["toy"]
    return verdict("T3[collected]", Greater(0, "mean"), found["mean"], f"T3[collected]: {found}")


CLAIMS = ClaimSet(
    name="toy", prefix="T", title="Toy claims", source="this test",
    claims=(Claim("T1", "toy", "s1", "Gradients put some mass on the square.", "mean box mass",
                  str(RULES["holds"]), "-"),
            Claim("T2", "toy", "s1", "More than all of it.", "mean box mass", str(RULES["impossible"]), "-"),
            Claim("T3", "toy", "s1", "Images are not black.", "mean pixel", "mean > 0", "-")),
    cases=lambda: [mass_case("holds", RULES["holds"]), mass_case("impossible", RULES["impossible"]),
                   Case("T3", "collected", collected_case)],
    evidence=(Scores(("gradient",), ("toy_mass",), subset="random"), MeanPixel()))
"""

TOY_ENTRY_POINTS = """
[amx.worlds]
toy = toyamx:WORLD

[amx.metrics]
toy_mass = toyamx:MASS

[amx.claims]
toy = toyamx:CLAIMS
"""


def _install_toy(pytester, monkeypatch) -> None:
    pytester.makepyfile(toyamx=TOY_PACKAGE, test_toy="from amx.claims.suite import test_claim  # noqa")
    info = pytester.mkdir("toyamx-0.1.dist-info")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toyamx\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(TOY_ENTRY_POINTS)
    monkeypatch.setenv("PYTHONPATH", str(pytester.path))


def test_a_plugin_package_registers_a_world_metric_and_claim_set_through_entry_points(pytester, monkeypatch):
    _install_toy(pytester, monkeypatch)
    result = pytester.runpytest_subprocess("-m", "claims", "--world", "toy", "--n-images", "4",
                                           "--cache-dir", "cache", "--report-dir", "out",
                                           "-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["T2[[]impossible[]]: mean box mass = 0.* (needs mean mass > 2)",
                                 "amx: 2 of 3 claims hold; report out/claims.html*",
                                 "PASSED test_toy.py::test_claim[[]T1[[]holds[]][]]",
                                 "FAILED test_toy.py::test_claim[[]T2[[]impossible[]][]]*"])
    results = json.loads((pytester.path / "out" / "results.json").read_text())
    assert [c["name"] for c in results["claim_sets"]] == ["toy"]
    assert {s["claim"]: s["holds"] for s in results["summary"]} == {"T1": True, "T2": False, "T3": True}
    assert "'n': 4" in next(c["message"] for c in results["cases"] if c["claim"] == "T3")
    html = (pytester.path / "out" / "claims.html").read_text()
    assert "Toy claims" in html and "Gradients put some mass on the square." in html


def test_an_installed_claim_set_of_another_subset_runs_beside_the_paper_s_on_mini(pytester, monkeypatch):
    # the toy claim set asks for a ScoreTable of random images, the main paper's for one of CL images:
    # with the package installed, one mini claims run computes and judges both
    _install_toy(pytester, monkeypatch)
    result = pytester.runpytest_subprocess("-m", "claims", "--world", "mini", "--n-images", "2", "--preset",
                                           "smoke", "-k", "T1 or T3 or P9", "--cache-dir", "cache",
                                           "--report-dir", "out", "-p", "no:cacheprovider", "-rA")
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stderr.str()[-3000:]
    results = json.loads((pytester.path / "out" / "results.json").read_text())
    judged = {c["case_id"]: c["outcome"] for c in results["cases"]}
    assert {"T1[holds]", "T3[collected]", "P9[image]"} <= set(judged)
    assert set(judged.values()) <= {"passed", "failed"}  # every one judged, none an error
    assert judged["T1[holds]"] == judged["T3[collected]"] == "passed"
    stages = results["provenance"]["passes"]["stages"]
    scored = {s["metric"] for s in stages if s["stage"] == "score"}
    assert {"toy_mass", "insertion", "pointing_game"} <= scored  # both tables computed in the one run
    assert results["provenance"]["stage_seconds"].keys() >= {"scores (cl)", "scores (random)"}


def test_amx_stability_reruns_the_claims_per_seed_and_the_report_shows_them(pytester, monkeypatch):
    import subprocess
    import sys

    _install_toy(pytester, monkeypatch)
    common = ["--world", "toy", "--n-images", "4", "--cache-dir", "cache", "--report-dir", "out"]
    done = subprocess.run([sys.executable, "-m", "amx.cli", "stability", "--seeds", "0", "1", *common],
                          cwd=pytester.path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert ("of 3 cases judged under seeds [0, 1], 2 hold under every seed, 1 under none and 0 flip between "
            "seeds") in done.stdout
    record = json.loads((pytester.path / "out" / "seed_stability.json").read_text())
    assert record["cases"]["T2[impossible]"] == {"claim": "T2", "holds": {"0": False, "1": False},
                                                 "labels": {"0": None, "1": None}, "judged": 2, "held": 0,
                                                 "flips": False, "borderline": False}
    assert (pytester.path / "out" / "seeds" / "1" / "results.json").is_file()
    assert "Verdicts under other seeds" in (pytester.path / "out" / "claims.html").read_text()
    # a later claims run of the same world and budget keeps the seeds' table in its report
    pytester.runpytest_subprocess("-m", "claims", *common, "-p", "no:cacheprovider")
    html = (pytester.path / "out" / "claims.html").read_text()
    assert "Made by <code>amx stability --seeds 0 1</code>" in html
    bad = subprocess.run([sys.executable, "-m", "amx.cli", "stability", "--seeds", "0", *common[:2],
                          "--n-images", "0"], cwd=pytester.path, capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "n_images must be a positive integer, got 0" in bad.stderr


def test_amx_stability_reruns_the_claims_under_each_kernel_path_and_compares_maps_and_verdicts(pytester,
                                                                                               monkeypatch):
    import subprocess
    import sys

    from amx import kernels

    if len(kernels.available()) < 2:
        pytest.skip(f"this CPU has one kernel path ({kernels.native()})")
    _install_toy(pytester, monkeypatch)
    paths = ["default", kernels.native()]
    common = ["--world", "toy", "--n-images", "4", "--cache-dir", "cache", "--report-dir", "out"]
    done = subprocess.run([sys.executable, "-m", "amx.cli", "stability", "--kernels", *paths, *common],
                          cwd=pytester.path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert (f"of 3 cases judged under kernel paths {', '.join(paths)}, 0 verdicts and 0 stability labels "
            "differ") in done.stdout
    record = json.loads((pytester.path / "out" / "kernel_stability.json").read_text())
    assert record["paths"] == paths and record["summary"]["same"]
    gradient = record["maps"][paths[1]]["gradient"]
    assert gradient["compared"] == 4 and gradient["only_first"] == gradient["only_other"] == 0
    for path in paths:  # each path computed everything in its own cache, under its own kernels
        results = json.loads((pytester.path / "out" / "kernels" / path / "results.json").read_text())
        assert results["provenance"]["kernel_path"] == path
        assert (pytester.path / "cache" / "kernels" / path / "store.sqlite").is_file()
    bad = subprocess.run([sys.executable, "-m", "amx.cli", "stability", "--kernels", "default", "avx1024",
                          *common], cwd=pytester.path, capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "kernel path 'avx1024': this CPU runs default" in bad.stderr


def test_a_claim_set_needing_an_unknown_metric_is_a_usage_error(pytester, monkeypatch):
    from dataclasses import replace

    import amx.claims
    from amx.claims import paper
    from amx.evidence import Scores

    wrong = replace(paper.CLAIM_SET, evidence=(Scores(paper.PAPER_METHODS, ("ssim",), pair=paper.PAIR),))
    monkeypatch.setattr(amx.claims, "active", lambda world: [wrong])
    pytester.makepyfile(MARKED)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--world mini: claim sets [[]'001'[]] cannot be run: "
                                 "unknown metric 'ssim'. Valid metrics: deletion, energy_pointing_game, "
                                 "insertion, max_box_acc_v2, pointing_game, pxap, road, wsl, wsl_alpha"])
