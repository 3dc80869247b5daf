"""The session: claim sets' evidence requests merged, planned, computed and judged without pytest."""

import dataclasses
from collections import Counter

import pandas as pd
import pytest

from amx.claims import baseline as baselines
from amx.claims import big_evidence, sam_sweeps, sanity_evidence
from amx.claims.spec import Case, Claim, ClaimSet, Greater, verdict
from amx.data.worlds import get_world
from amx.evidence import Scores, ZooTable, control_methods, merged, with_controls
from amx.pipeline.sweep import Sweep
from amx.session import Session
from amx.zoo import mini as zoo_mini
from evals.unit.test_executor import Elsewhere

PAIR = {"resnet": {"vanilla": "resnet-mini", "pgd": "resnet-mini-R"}}
REGIMES = ("vanilla", "pgd")


def _mean_case(name, rule):
    def check(evidence):
        mean = float(evidence.ok["insertion"].mean())
        return verdict(f"Q1[{name}]", rule, mean, f"mean insertion {mean:.3f}")
    return Case("Q1", name, check)


CLAIMS = ClaimSet(
    name="q", prefix="Q", title="a test's claims", source="this test",
    claims=(Claim("Q1", "q", "s", "Insertion is positive.", "mean insertion", "> 0", "-"),),
    cases=lambda: [_mean_case("positive", Greater(0.0, "mean")),
                   _mean_case("above-one", Greater(1.0, "mean"))],
    evidence=(Scores(("gradient", "smoothgrad"), ("insertion", "pointing_game"), pair=REGIMES), ZooTable()))
# claim sets that only ask for evidence: a ScoreTable of another subset, one of the ScoreTable's
# first two images (as 001's ROAD table), SAM's and BIG's requests
RANDOM = Scores(("gradcam",), ("deletion",), subset="random")
FIRST_TWO = Scores(("gradient",), ("insertion", "road"), pair=REGIMES, first=2)
OTHERS = [ClaimSet("r", "R", "r", "r", (), lambda: [], evidence=(RANDOM, sam_sweeps.SamSweeps())),
          ClaimSet("u", "U", "u", "u", (), lambda: [], evidence=(FIRST_TWO,)),
          ClaimSet("s", "S", "s", "s", (), lambda: [], evidence=(big_evidence.BoundaryEvidence(),)),
          ClaimSet("t", "T", "t", "t", (), lambda: [], evidence=(sanity_evidence.RandomisationEvidence(),))]


@dataclasses.dataclass(frozen=True)
class OnePair:
    """The ``mini`` zoo cut to its ResNet pair."""

    zoo: object

    def specs(self, world):
        return {k: v for k, v in self.zoo.specs(world).items() if k in PAIR["resnet"].values()}


@pytest.fixture(scope="module")
def cold(tmp_path_factory):
    """A session of every kind of request on the ResNet pair of ``mini``, with SAM's, BIG's and the
    sanity checks' plans cut to two images, three small sweeps, a short boundary search and one
    method beyond the sanity checks' four, planned and then run on an empty cache."""
    patch = pytest.MonkeyPatch()
    mini = sam_sweeps.PLANS["mini"]
    mp = mini.mp_default
    patch.setitem(sam_sweeps.PLANS, "mini", dataclasses.replace(mini, n_images=2, sweeps=(
        Sweep("smoothgrad", "n_samples", (2, 4), 4, sam_sweeps.GRADIENT + (("noise", 0.2),)),
        Sweep("sliding_patch", "patch", (12, 16), 16, (("stride", 8),)),
        Sweep("mp", "iterations", (2, 4), 4, mp.base))))
    patch.setitem(big_evidence.PLANS, "mini", dataclasses.replace(big_evidence.PLANS["mini"], n_images=2))
    sanity = dataclasses.replace(sanity_evidence.PLANS["mini"], n_images=2, others=("gradient_x_input",),
                                 n_others=1)
    patch.setitem(sanity_evidence.PLANS, "mini", sanity)
    search = zoo_mini.MINI_METHODS["big"]["boundary"]  # BIG's search in a few steps
    patch.setitem(zoo_mini.MINI_METHODS, "big", {"boundary": dataclasses.replace(
        search, eps=search.eps[:2], pgd_steps=4, cw_steps=5, cw_binary_steps=2)})
    mini_world = get_world("mini")
    world = dataclasses.replace(mini_world, zoo_eval_images=4, zoo=OnePair(mini_world.zoo))
    # every task pickled and run by a runner that shares nothing with the session
    session = Session(world, n_images=3, cache=str(tmp_path_factory.mktemp("cache")),
                      claim_sets=[CLAIMS, *OTHERS], progress=False, executor=Elsewhere())
    planned = session.plan()
    session.run()
    yield session, planned
    patch.undo()


def _passes(stages) -> dict:
    """``{(stage, model, method or metric): (forwards, forward + backward passes)}`` of planned
    (``PlannedStage``) or computed (``Stage``) stages, summed; stages without passes left out."""
    out = Counter()
    for s in stages:
        what = s.what if hasattr(s, "what") else s.method or s.metric or ""
        out[(s.stage, s.model, what, "forwards")] += s.forwards
        out[(s.stage, s.model, what, "forward_backwards")] += s.forward_backwards
    return {k: v for k, v in out.items() if v}


def test_every_request_computes_through_the_executor_s_tasks(cold):
    session, _ = cold
    kinds = {type(t).__name__ for t in session.executor.tasks}
    assert kinds == {"MapTask", "ScoreTask", "BoundaryTask", "BigMapTask", "TraceTask", "RandomisedMapTask"}


def test_the_plan_prices_every_request_and_a_cold_run_counts_the_same_passes(cold):
    session, planned = cold
    stages = {s.stage for s in planned}
    assert {"predict", "attribute", "score", "sweep", "measure", "boundary", "table1", "randomise"} <= stages
    made, priced = _passes(session.ledger), _passes(planned)
    searches = {k for k in priced if k[0] == "boundary"}  # priced at their most: they stop early
    assert {k: v for k, v in made.items() if k not in searches} == {
        k: v for k, v in priced.items() if k not in searches}
    assert searches and all(0 < made.get(k, 0) <= priced[k] for k in searches)
    # BIG's Gradient maps of the pair are the first two of the ScoreTable's three: counted once; the
    # sanity checks' two (the signed channel mean) are their own
    gradient = [s.images for s in planned if s.stage == "attribute" and s.what == "gradient"
                and s.model == "resnet-mini"]
    assert gradient == [3, 2]
    # the table of the first two images: its maps and Insertion scores are the ScoreTable's, only
    # ROAD is its own (of gradient and the three controls)
    road = [s.images for s in planned if s.stage == "score" and s.model == "resnet-mini" and s.what == "road"]
    assert road == [2] * 4
    whole = {s.work: s.images for s in planned}
    mine = [s for r in with_controls(FIRST_TWO) for s in r.plan(session.context)
            if s.stage in ("attribute", "score") and s.what != "road"]
    assert mine and all(whole[s.work] == 3 for s in mine)  # planned once, on the ScoreTable's 3 images


def test_a_table_of_the_first_images_is_the_scoretable_s_first_rows(cold):
    session, _ = cold
    whole = session.evidence(CLAIMS)
    first = session.evidence(OTHERS[1]).collected_by("u").table
    first = first[first["method"] == "gradient"]
    for model, rows in whole.ok[whole.ok["method"] == "gradient"].groupby("model"):
        mine = first[first["model"] == model]
        assert mine["image"].tolist() == rows["image"].tolist()[:2]
        assert mine["insertion"].tolist() == rows["insertion"].tolist()[:2]  # the same content
        assert mine["road"].between(-1, 1).all() and "road" not in rows
    assert OTHERS[1].own == (FIRST_TWO,) and OTHERS[1].scores is None


def test_a_session_judges_its_claims_and_a_baseline_without_pytest(cold, tmp_path):
    session, _ = cold
    judge = session.judge()
    assert [(e["case_id"], e["outcome"]) for e in judge.entries] == [("Q1[positive]", "passed"),
                                                                       ("Q1[above-one]", "failed")]
    path = baselines.write(tmp_path / "base.json", session.record(), judge.verdicts, judge.entries)
    again = session.judge(baseline=path)
    assert [e["outcome"] for e in again.entries] == ["passed", "expected failure"]
    results = session.results(again)
    assert [s["holds"] for s in results["summary"]] == [False]
    assert {s["stage"] for s in results["provenance"]["passes"]["stages"]} >= {"boundary", "sweep", "table1"}
    json_path, html_path = session.write_report(results, tmp_path / "report")
    assert json_path.is_file() and "a test&#x27;s claims" in html_path.read_text()


def test_a_case_that_cannot_be_judged_is_an_error_and_the_others_are_judged(cold, tmp_path):
    session, _ = cold

    def too_few(evidence):
        raise ValueError("Q1[raises]: fewer than 2 images with what it needs")

    claims = dataclasses.replace(CLAIMS, cases=lambda: [Case("Q1", "raises", too_few),
                                                        _mean_case("positive", Greater(0.0, "mean"))])
    again = Session(session.world, n_images=3, cache=session.cache, claim_sets=[claims], progress=False)
    again.run()
    assert again.ledger == []  # warm: everything from the store
    judge = again.judge()
    assert [(e["case_id"], e["outcome"]) for e in judge.entries] == [("Q1[raises]", "error"),
                                                                       ("Q1[positive]", "passed")]
    assert judge.entries[0]["reason"] == "ValueError: Q1[raises]: fewer than 2 images with what it needs"
    results = again.results(judge)
    assert [(s["cases"], s["passed"], s["errors"]) for s in results["summary"]] == [(1, 1, 1)]
    _, html_path = again.write_report(results, tmp_path / "report")
    assert "1 case(s) could not be judged" in html_path.read_text()


def test_each_request_s_evidence_reaches_its_claim_set(cold):
    session, _ = cold
    evidence = session.evidence(CLAIMS)
    assert set(evidence.scores["method"]) == {"gradient", "smoothgrad"}  # what the claim set asked for
    assert set(evidence.controls["method"]) == {"centre", "random", "edges"}  # scored beside them, apart
    assert len(evidence.zoo) == len(session.context.runnable("random"))
    random = session.result(RANDOM)
    assert random.config.subset == "random" and "deletion" in random.table
    assert set(session.result(sam_sweeps.SamSweeps()).similarity["model"]) == set(PAIR["resnet"].values())


def test_the_report_shows_the_claim_set_s_methods_against_the_controls(cold, tmp_path):
    session, _ = cold
    results = session.results(session.judge())
    found = results["controls"]["q"]
    assert found["methods"] == ["gradient", "smoothgrad"]
    assert found["controls"] == ["centre", "edges", "random"]
    assert set(found["metrics"]) == {"insertion", "pointing_game"}
    for control in found["controls"]:
        for metric in found["metrics"]:
            means = found["means"][metric]
            assert found["beats"][control][metric] == sum(means[m] > means[control] for m in found["methods"])
    _, html = session.write_report(results, tmp_path / "report")
    text = html.read_text()
    assert "methods beating centre" in text and text.count(">control</span>") == 3 * len(results["controls"])


def test_against_controls_counts_a_lower_deletion_as_better():
    from amx.claims.spec import Evidence
    from amx.report.results import against_controls

    rows = [{"method": m, "model": "m", "image": 0, "status": "ok", "deletion": d, "insertion": i}
            for m, d, i in (("gradient", 0.2, 0.6), ("rise", 0.5, 0.7), ("centre", 0.4, 0.65))]
    table = pd.DataFrame(rows)
    centre = table["method"] == "centre"
    evidence = Evidence(scores=table[~centre], controls=table[centre])
    found = against_controls(evidence, ("deletion", "insertion"))
    assert found["beats"]["centre"] == {"deletion": 1, "insertion": 1}
    assert found["higher_is_better"] == {"deletion": False, "insertion": True}
    assert found["n_methods"] == {"deletion": 2, "insertion": 2}
    assert found["images_per_model"] == 1


def test_every_control_is_scored_beside_a_table_that_asks_for_one_itself():
    mine = Scores(("gradient", "centre"), ("insertion",), pair=REGIMES)  # one claim set asks for a control
    theirs = Scores(("smoothgrad",), ("insertion",), pair=REGIMES)
    sets = [ClaimSet(n, n.upper(), n, n, (), lambda: [], evidence=(r,))
            for n, r in (("x", mine), ("y", theirs))]
    requests = Session(get_world("mini"), n_images=3, claim_sets=sets, progress=False).requests()
    assert len(requests) == 2  # the merged ScoreTable and the controls' table of its first images
    for request in (mine, theirs):  # what Session.evidence reads beside each is computed
        assert any(q.covers(with_controls(request)[1]) for q in requests)
    for bad in (True, 0):
        with pytest.raises(ValueError, match="controls: the control maps' images per model"):
            Session(get_world("mini"), claim_sets=sets, controls=bad)


def test_methods_meet_the_controls_only_on_the_images_the_controls_were_scored_on():
    from amx.claims.spec import Evidence
    from amx.report.results import against_controls

    # Gradient's mean Insertion beats the centre's over its two images (0.55 > 0.5), but the centre
    # was scored on the second image alone, where Gradient scores 0.2
    methods = pd.DataFrame({"method": "gradient", "model": "m", "image": [0, 1], "status": "ok",
                            "insertion": [0.9, 0.2]})
    centre = pd.DataFrame({"method": ["centre"], "model": "m", "image": [1], "status": "ok",
                           "insertion": [0.5]})
    found = against_controls(Evidence(scores=methods, controls=centre), ("insertion",))
    assert found["means"]["insertion"] == {"gradient": 0.2, "centre": 0.5}
    assert found["beats"]["centre"] == {"insertion": 0} and found["images_per_model"] == 1


def test_the_controls_are_scored_on_the_first_images_and_read_apart(cold):
    session, _ = cold
    few = Session(session.world, n_images=3, cache=session.cache, claim_sets=[CLAIMS], progress=False,
                  controls=2)
    assert [r for r in few.requests() if isinstance(r, Scores)] == [
        CLAIMS.scores, Scores(control_methods(), CLAIMS.scores.metrics, pair=REGIMES, first=2)]
    few.run()
    assert few.ledger == []  # the first two images' control maps and scores: the cold run's
    evidence = few.evidence(CLAIMS)
    assert set(evidence.scores["method"]) == {"gradient", "smoothgrad"}
    per_model = evidence.controls.groupby("model")["image"].unique()
    whole = evidence.ok.groupby("model")["image"].unique()
    assert all(list(per_model[m]) == list(whole[m][:2]) for m in whole.index)
    assert Session(session.world, n_images=3, claim_sets=[CLAIMS], controls=None).requests() == [
        CLAIMS.scores, ZooTable()]


def test_scores_of_one_subset_merge_and_two_subsets_stay_apart():
    a = Scores(("gradient",), ("wsl",), pair=REGIMES)
    b = Scores(("ig", "gradient"), ("insertion",), pair=REGIMES)
    c = Scores(("gradient",), ("wsl",), subset="random")
    d = Scores(("gradient",), ("wsl",), pair=("vanilla", "trades"))  # another CL set: another table
    assert merged([a, ZooTable(), b, c, d, ZooTable()]) == [
        Scores(("gradient", "ig"), ("wsl", "insertion"), pair=REGIMES), ZooTable(), c, d]
    assert merged([a, b])[0].covers(a) and not c.covers(a) and not d.covers(a)
    first = Scores(("gradient",), ("road",), pair=REGIMES, first=8)  # a table of the first 8 images
    assert merged([a, first, b]) == [Scores(("gradient", "ig"), ("wsl", "insertion"), pair=REGIMES), first]
    assert not merged([a, b])[0].covers(first) and not first.covers(a)
    both = ClaimSet("y", "Y", "y", "y", (), lambda: [], evidence=(a, first))
    assert both.scores == a and both.own == (first,)
    with pytest.raises(ValueError, match="first must be >= 1"):
        Scores(("gradient",), ("wsl",), pair=REGIMES, first=0)
    with pytest.raises(ValueError, match="pair: the CL subset keeps"):
        Scores(("gradient",), ("wsl",))
    with pytest.raises(ValueError, match="claim set 'x': asks for more than one Table 1"):
        ClaimSet("x", "X", "x", "x", (), lambda: [], evidence=(ZooTable(), ZooTable()))


def test_sam_s_paper_plan_asks_for_families_the_imagenet_zoo_has():
    # the plan once named ResNet-50's architecture ("resnet50") where the zoo names its family
    # "resnet": on ImageNet, SAM's claims silently dropped the ResNet pair
    families = {s.architecture for s in get_world("imagenet").zoo.specs(get_world("imagenet")).values()}
    assert set(sam_sweeps.PLANS["paper"].families) <= families


def test_a_preset_of_the_session_prices_every_request_with_its_budgets():
    from amx.claims import CLAIM_SETS

    mini = get_world("mini")
    sets = [CLAIM_SETS.get(name) for name in ("001", "002", "003")]

    def passes(preset):
        stages = Session(mini, preset=preset, claim_sets=sets).plan()
        return sum(s.forwards + s.forward_backwards for s in stages)

    passes = {preset: passes(preset) for preset in (None, "smoke")}
    assert 0 < passes["smoke"] < passes[None] / 5  # the smoke preset: a few passes of everything
    smoke = Session(mini, preset="smoke", claim_sets=sets)
    assert smoke.context.zoo_eval_images == 4 and smoke.record()["preset"] == "smoke"
    with pytest.raises(KeyError, match="unknown preset 'tiny'"):
        Session(mini, preset="tiny")
