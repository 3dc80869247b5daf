"""Verdict stability: every case re-judged on bootstrap resamples of its images."""

import numpy as np
import pytest
import test_big_claims
import test_claims
import test_sam_claims

from amx.claims import CLAIM_SETS, big, paper, sam
from amx.claims.spec import AnyOf, AtLeast, Between, Evidence, IsTrue, Less
from amx.claims.stability import Draws, StabilityConfig, stability


class OneDraw:
    """A single 'resample' that draws every image once: the run itself."""

    n_draws, seed = 1, 0

    def weights(self, images, universe="pool"):
        return np.ones((1, len(images)))

    def spread(self, key, sigma=None):
        return np.ones(1)


def _holds_on_the_run(case, evidence) -> bool:
    return bool(case.resample(evidence, OneDraw())[0])


def test_every_case_of_amx_can_be_resampled():
    for name, claim_set in CLAIM_SETS.registered():
        assert all(c.resample is not None for c in claim_set.cases()), name


def test_resampling_the_run_itself_gives_the_verdict_of_every_paper_case():
    evidence = Evidence(test_claims.synthetic_table(), test_claims.zoo_rows())
    for case in paper.cases():
        assert _holds_on_the_run(case, evidence) == case.check(evidence).passed, case.id
    for case_id, broken in test_claims.BROKEN.items():  # where the verdict is False
        case, evidence = test_claims._case(case_id), broken()
        assert _holds_on_the_run(case, evidence) == case.check(evidence).passed, case_id


@pytest.mark.parametrize("better", [True, False])
def test_resampling_the_run_itself_gives_the_verdict_of_every_sam_and_big_case(better):
    sam_evidence = Evidence(collected={"002": test_sam_claims._synthetic(better)})
    big_evidence = Evidence(collected={"003": test_big_claims._synthetic(better)})
    for cases, evidence in ((sam.cases(), sam_evidence), (big.cases(), big_evidence)):
        for case in cases:
            if case.architecture not in (None, *test_big_claims.ARCHITECTURES):
                continue
            assert _holds_on_the_run(case, evidence) == case.check(evidence).passed, case.id


def _p1_stability(gain: float, seed: int = 0):
    """P1[gradient-wsl-resnet] on a synthetic ScoreTable whose robust gradient maps localise better
    by ``gain`` (100 images per model)."""
    gains = {"vanilla": 0.0, "advprop-pgd1": 0.0, "advprop-pgd5": 0.0, "pgd": gain}
    evidence = Evidence(test_claims.synthetic_table(robust_gain=gains))
    case = next(c for c in paper.cases() if c.id == "P1[gradient-wsl-resnet]")
    verdict = case.check(evidence)
    return verdict, stability(case, evidence, Draws(200, seed), StabilityConfig(), verdict.passed)


def test_a_large_effect_is_stable_an_effect_at_the_threshold_borderline_no_effect_stable_failing():
    verdict, large = _p1_stability(0.4)
    assert verdict.passed and large.share == 1.0 and large.label == "stable"
    verdict, edge = _p1_stability(0.12)  # p = 0.0047 against P1's 0.003
    assert 0.3 < edge.share < 0.7 and edge.label == "borderline", verdict.p_value
    verdict, none = _p1_stability(0.0)
    assert not verdict.passed and none.share == 0.0 and none.label == "stable"


def test_resamples_are_seeded():
    assert _p1_stability(0.12, seed=1)[1] == _p1_stability(0.12, seed=1)[1]
    assert _p1_stability(0.12, seed=1)[1].share != _p1_stability(0.12, seed=2)[1].share


def test_an_image_has_the_same_weights_in_every_case_and_each_universe_its_own():
    draws = Draws(50, seed=3)
    both = draws.weights([4, 9, 4])
    np.testing.assert_array_equal(both[:, 0], both[:, 2])
    np.testing.assert_array_equal(both[:, 1], Draws(50, seed=3).weights([9])[:, 0])
    assert not np.array_equal(draws.weights([4], "eval"), draws.weights([4], "pool"))
    assert abs(draws.weights(np.arange(400)).mean() - 1.0) < 0.05  # Poisson(1) counts
    with pytest.raises(ValueError, match="unknown universe 'train'"):
        draws.weights([1], "train")


def test_a_runtime_spread_is_seeded_per_key_and_has_the_stated_sd():
    draws = Draws(4000, seed=3)
    np.testing.assert_array_equal(draws.spread("runtime ep"), Draws(4000, seed=3).spread("runtime ep"))
    assert not np.array_equal(draws.spread("runtime ep"), draws.spread("runtime rise"))
    assert not np.array_equal(draws.spread("runtime ep"), Draws(4000, seed=4).spread("runtime ep"))
    assert abs(np.log(draws.spread("runtime ep", 0.2)).std() - 0.2) < 0.01


def _p7_ep_stability(ep_over_rise: float):
    """P7[ep-slowest] on a synthetic table whose EP is ``ep_over_rise`` times RISE's runtime."""
    table = test_claims.synthetic_table()
    table.loc[table["method"] == "ep", "runtime_s"] *= ep_over_rise * test_claims.RUNTIME["rise"] \
        / test_claims.RUNTIME["ep"]
    evidence = Evidence(table, test_claims.zoo_rows())
    case = test_claims._case("P7[ep-slowest]")
    verdict = case.check(evidence)
    return verdict, stability(case, evidence, Draws(200, 0), StabilityConfig(), verdict.passed)


def test_a_runtime_verdict_another_machine_could_reverse_is_borderline():
    """The images alone agree on EP's 10% lead over RISE (each image's runtime within 10% of its
    method's); another machine's speeds (RUNTIME_SPREAD) could reverse it, a 2x lead they cannot."""
    verdict, close = _p7_ep_stability(1.1)
    assert verdict.passed and close.label == "borderline" and 0.5 < close.share < 0.95
    verdict, clear = _p7_ep_stability(2.0)
    assert verdict.passed and clear.label == "stable"
    verdict, behind = _p7_ep_stability(0.9)
    assert not verdict.passed and behind.label == "borderline"


def test_stability_bounds_are_validated():
    config = StabilityConfig(high=0.9, low=0.1)
    assert config.label(0.92, passed=True) == "stable" and config.label(0.08, passed=False) == "stable"
    # resamples that contradict the verdict make it borderline, however one-sided they are
    assert config.label(0.0, passed=True) == "borderline" and config.label(0.5, passed=False) == "borderline"
    with pytest.raises(ValueError, match="low < high"):
        StabilityConfig(high=0.5, low=0.5)
    with pytest.raises(ValueError, match="n_draws must be >= 1"):
        StabilityConfig(n_draws=0)


def test_rules_judge_arrays_of_resampled_statistics():
    assert Less(0.003, "p").holds([0.001, 0.01]).tolist() == [True, False]
    assert Between(0, 1, inclusive=True).holds([0.0, 1.5]).tolist() == [True, False]
    assert IsTrue("x").holds([1.0, 0.0]).tolist() == [True, False]
    rule = AnyOf(AtLeast(0.003, "p"), Less(0.3, "|r|"))
    assert rule.holds(([0.5, 0.001, 0.001], [0.9, 0.1, 0.5])).tolist() == [True, True, False]
    assert rule.passes((0.001, 0.5)) is False


def test_sample_sizes_find_the_smallest_budget_with_a_stable_verdict():
    from amx.claims.stability import sample_sizes, sizes

    config = StabilityConfig(n_draws=100)
    p1 = next(c for c in paper.cases() if c.id == "P1[gradient-wsl-resnet]")
    p11 = next(c for c in paper.cases() if c.id == "P11[resnet-top1]")
    found = {}
    for gain in (0.4, 0.15):
        gains = {"vanilla": 0.0, "advprop-pgd1": 0.0, "advprop-pgd5": 0.0, "pgd": gain}
        evidence = Evidence(test_claims.synthetic_table(robust_gain=gains), test_claims.zoo_rows())
        verdicts = {case: case.check(evidence).passed for case in (p1, p11)}
        judged = [(case, passed, stability(case, evidence, Draws(100, 0), config, passed).share)
                  for case, passed in verdicts.items()]
        found[gain] = sample_sizes(judged, evidence, 100, seed=0, config=config)
    assert found[0.4]["sizes"] == sizes(100) == [25, 50, 100]
    strong = found[0.4]["cases"]["P1[gradient-wsl-resnet]"]
    assert strong["depends"] and strong["smallest_stable"] == 25 and strong["shares"]["100"] == 1.0
    weak = found[0.15]["cases"]["P1[gradient-wsl-resnet]"]  # p = 2e-4 at 100 images, 80% of resamples
    assert weak["smallest_stable"] is None and weak["shares"]["25"] < weak["shares"]["100"]
    table1 = found[0.4]["cases"]["P11[resnet-top1]"]
    assert not table1["depends"] and table1["smallest_stable"] == 25


def test_seed_stability_counts_cases_that_hold_under_every_seed_none_or_flip():
    from amx.claims.seeds import seed_stability

    def run(seed, verdicts):
        return {"provenance": {"world": "mini", "world_version": 3, "n_images": 100, "git_commit": "abc"},
                "cases": [{"case_id": f"P1[{k}]", "claim": "P1", "passed": v, "outcome": "passed",
                           "stability": {"label": "borderline" if k == "c" else "stable"}}
                          for k, v in verdicts.items()]}

    record = seed_stability({0: run(0, {"a": True, "b": False, "c": True}),
                             1: run(1, {"a": True, "b": False, "c": False})})
    assert record["summary"] == {"cases": 3, "hold_under_all": 1, "hold_under_none": 1, "flip": 1,
                                 "borderline": 1, "flip_and_stable": 0}
    assert record["cases"]["P1[c]"]["holds"] == {"0": True, "1": False}
    other = run(1, {"a": True})
    other["provenance"]["n_images"] = 50
    with pytest.raises(ValueError, match="seed 1's run is on world 'mini' with 50 images"):
        seed_stability({0: run(0, {"a": True}), 1: other})


def test_kernel_stability_compares_maps_by_method_and_every_verdict_and_label(tmp_path):
    from amx.claims.kernel_paths import kernel_stability
    from amx.pipeline.store import Store

    base = np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8)
    for path, shift in (("default", 0.0), ("avx512", 0.25)):
        store = Store(tmp_path / path)
        store.put_maps([("k1", base, 0.0), ("k2", base + shift, 0.0)], "cpu", of=("m", "gradient"))
        store.put_maps([("k3", base, 0.0)], "cpu", of=("m", "ep"))
        if path == "default":
            store.put_maps([("k4", base, 0.0)], "cpu", of=("m", "ep"))  # not computed under avx512
        else:
            store.put_maps([("k5", base, 0.0)], "cpu", of=("m", "rise"))  # only under avx512
        store.put_arrays([("p", base)], of=("m", "boundary_points"))
        store.close()

    shares = {"stable": {"a": 1.0, "b": 0.01, "c": 0.0, "d": 1.0, "e": 0.95, "t": 0.02},  # e: at 0.95
              "borderline": {"b": 0.6, "e": 0.94, "t": 0.4}, None: {}}

    def run(path, cases):  # case "t" is of a claim that reads runtimes
        return {"provenance": {"world": "mini", "n_images": 25, "seed": 0, "git_commit": "abc",
                               "kernel_path": path},
                "claim_sets": [{"claims": {"P1": {"timed": False}, "P7": {"timed": True}}}],
                "cases": [{"case_id": f"{claim}[{k}]", "claim": claim, "passed": v, "outcome": outcome,
                           "stability": {"label": label, "share": shares[label].get(k), "n_draws": 200}}
                          for k, (v, label, outcome) in cases.items()
                          for claim in ["P7" if k == "t" else "P1"]]}

    record = kernel_stability({
        "default": (run("default", {"a": (True, "stable", "passed"), "b": (False, "borderline", "failed"),
                                    "c": (True, "stable", "passed"), "d": (False, None, "not applicable"),
                                    "e": (True, "stable", "passed"), "t": (False, "stable", "failed")}),
                    tmp_path / "default"),
        "avx512": (run("avx512", {"a": (True, "stable", "passed"), "b": (False, "stable", "failed"),
                                  "c": (False, "stable", "failed"), "d": (True, "stable", "passed"),
                                  "e": (True, "borderline", "passed"), "t": (False, "borderline", "failed")}),
                   tmp_path / "avx512")})
    assert record["summary"] == {"cases": 5, "verdicts_differ": ["P1[c]", "P1[d]"],
                                 "labels_differ": ["P1[b]"], "labels_within_resampling": ["P1[e]"],
                                 "timed": ["P7[t]"], "same": False}
    maps = record["maps"]["avx512"]
    assert maps["gradient"]["compared"] == 2 and maps["gradient"]["differ"] == 1
    assert maps["gradient"]["largest"] == pytest.approx(0.2, abs=1e-3)  # 0.25 against scales 1 and 1.25
    assert maps["ep"] == {"compared": 1, "differ": 0, "p99": 0.0, "largest": 0.0,
                          "unit": "of the map's scale", "only_first": 1, "only_other": 0}
    assert maps["rise"]["compared"] == 0 and maps["rise"]["only_other"] == 1
    assert maps["boundary_points"]["largest"] == 0.0 and maps["boundary_points"]["unit"] == "pixel units"
    assert maps["unlabelled"] == {"first": 0, "other": 0}
    other = run("avx512", {})
    other["provenance"]["seed"] = 1
    with pytest.raises(ValueError, match="the run under avx512 is on world 'mini' with 25 images and seed 1"):
        kernel_stability({"default": (run("default", {}), tmp_path / "default"),
                          "avx512": (other, tmp_path / "avx512")})
    with pytest.raises(ValueError, match="the run meant for kernel path avx512 ran on 'default'"):
        kernel_stability({"default": (run("default", {}), tmp_path / "default"),
                          "avx512": (run("default", {}), tmp_path / "avx512")})


def test_holm_is_reported_within_each_claim_and_judges_with_holm():
    from amx.claims.judge import Judge
    from amx.claims.spec import Case, Claim, ClaimSet, verdict
    from amx.report.results import holm_within_claims
    from amx.stats import TestResult

    def case(name, p):
        rule, test = Less(0.05, "p"), TestResult("made up", 0.0, p, 0.0, 0.0, 0.0, 10)
        return Case("Q1", name, lambda ev: verdict(f"Q1[{name}]", rule, p, "made up", test=test,
                                                   on_p=rule.passes))

    cases = [case("a", 0.01), case("b", 0.03), case("c", 0.04)]
    claim_set = ClaimSet(name="q", prefix="Q", title="q", source="q", cases=lambda: cases,
                         claims=(Claim("Q1", "q", "s", "statement", "p", "p < 0.05", "-"),))
    judge = Judge([claim_set], holm=True)
    judged = {c.id: judge.on_holm(c, c.check(Evidence()), Evidence()) for c in cases}
    # Holm: 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 -> 0.06 (monotone)
    assert {k: v.passed for k, v in judged.items()} == {"Q1[a]": True, "Q1[b]": False, "Q1[c]": False}
    assert judged["Q1[b]"].details["p_holm"] == pytest.approx(0.06)
    entries = [{**c.check(Evidence()).record(), "claim": "Q1"} for c in cases]
    entries.append({"claim": "Q1", "p_value": 0.9, "p_decides": False})  # a rho-decided case: not in it
    holm_within_claims(entries)
    assert [e.get("p_holm") for e in entries[:3]] == pytest.approx([0.03, 0.06, 0.06])
    assert "p_holm" not in entries[3]


def test_a_resample_that_raises_keeps_the_verdict_and_says_why():
    from amx.claims.judge import AmxStabilityWarning, Judge
    from amx.claims.spec import Case, verdict

    def broken(ev, draws):
        raise RuntimeError("made up")

    case = Case("Q1", "a", lambda ev: verdict("Q1[a]", Less(1.0, "x"), 0.5, "made up"), resample=broken)
    judge = Judge([])
    with pytest.warns(AmxStabilityWarning, match=r"Q1\[a\]: its resamples could not be judged"):
        judge.case(case, Evidence())
    entry = judge.entries[0]
    assert entry["passed"] and entry["stability"] is None
    assert entry["stability_error"] == "RuntimeError: made up"
