"""The model-change check on real models: the photos world with the shipped zoo file of
EfficientNet-Lite0, -Lite1 and -Lite2 (``fixtures/zoos/efficientnet-lite.toml``, smoke preset),
then again with Lite1's network and weights under Lite0's name, judged against the first run as
the baseline: what changed is named, in the judge's entries, the report and ``amx diff``."""

import json

import pytest

from amx.claims import baseline as baselines
from amx.claims import diff
from amx.cli import main
from amx.data.worlds import ZOO_FILE, get_world
from amx.files import FIXTURES, environment
from amx.session import Session

LITE = FIXTURES / "zoos" / "efficientnet-lite.toml"
CROSS_CNN = ("P8[argmax-wsl]", "P8[argmax-pointing_game]")  # cases that compare 3 or more CNNs
OVER_CNNS = ("P8[insertion-vs-top1]", "P9[network]")  # a Spearman over CNNs: 4 or more


def _lite1_as_lite0(text: str) -> str:
    """The zoo file with Lite0's table built from Lite1's network, weights and input size."""
    lite0, rest = text.split("[models.EfficientNet-Lite1]")
    lite1 = "[models.EfficientNet-Lite1]" + rest.split("[models.EfficientNet-Lite2]")[0]
    swapped = "[models.EfficientNet-Lite0]" + lite1.split("[models.EfficientNet-Lite1]")[1].replace(
        'family = "efficientnet_lite1"', 'family = "efficientnet_lite0"')
    return lite0.split("[models.EfficientNet-Lite0]")[0] + swapped + "[models.EfficientNet-Lite1]" + rest


def _session(zoo, cache):
    with environment({ZOO_FILE.env: str(zoo)}):
        session = Session(get_world("photos"), n_images=2, preset="smoke", cache=str(cache), progress=False,
                          controls=None)  # no case reads them: what changes is the models
        session.run()
    return session


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lite")
    cache = tmp / "cache"
    first = _session(LITE, cache)
    with environment({ZOO_FILE.env: str(LITE)}):
        judged = first.judge()
        Session.write_report(first.results(judged), tmp / "first")
    baselines.write(tmp / "baseline.json", first.record(), judged.verdicts, judged.entries)
    swapped = tmp / "swapped.toml"
    swapped.write_text(_lite1_as_lite0(LITE.read_text()))
    second = _session(swapped, cache)
    with environment({ZOO_FILE.env: str(swapped)}):
        rejudged = second.judge(baseline=tmp / "baseline.json")
        Session.write_report(second.results(rejudged), tmp / "second")
    return tmp, judged, rejudged, swapped


def test_the_cross_cnn_cases_are_judged_on_three_real_cnns(runs):
    _, judged, _, _ = runs
    entries = {e["case_id"]: e for e in judged.entries}
    assert {entries[c]["outcome"] for c in CROSS_CNN} <= {"passed", "failed"}
    assert all(len(entries[c]["reads"]) == 3 for c in CROSS_CNN)
    for case in OVER_CNNS:
        assert entries[case]["outcome"] == "not applicable"
        assert entries[case]["reason"] == "compares at least 4 models; world 'photos' has 3"


def test_swapping_a_models_weights_names_it_in_every_changed_case(runs):
    tmp, judged, rejudged, _ = runs
    assert list(rejudged.changed) == ["EfficientNet-Lite0"]
    assert rejudged.changed["EfficientNet-Lite0"].startswith("fingerprint ")
    changed = [e for e in rejudged.entries if e["outcome"] in ("flipped", "borderline flip")]
    for entry in changed:
        reads_it = "EfficientNet-Lite0" in entry["reads"]
        assert entry["changed_models"] == (["EfficientNet-Lite0"] if reads_it else [])
        assert ("EfficientNet-Lite0 (fingerprint" in entry["baseline_change"]) == reads_it
    unchanged = [e for e in rejudged.entries if e["outcome"] in ("passed", "expected failure")]
    assert all(e["changed_models"] == [] for e in unchanged)
    html = (tmp / "second" / "claims.html").read_text()
    assert "Changed since the baseline" in html and "EfficientNet-Lite0" in html.split("<h2>Claims</h2>")[0]
    assert "Changed since the baseline" not in (tmp / "first" / "claims.html").read_text()


def test_a_flip_of_a_case_that_reads_the_swapped_model_names_it(runs, tmp_path):
    """A baseline in which every case reading Lite0 had the opposite of the swapped run's verdict:
    each of them flips, and each names Lite0 (the evidence built to flip, whatever the smoke run's
    verdicts)."""
    tmp, _, rejudged, swapped = runs
    data = json.loads((tmp / "baseline.json").read_text())
    readers = {e["case_id"]: e for e in rejudged.entries
               if e["passed"] is not None and "EfficientNet-Lite0" in e["reads"]}
    for case_id, entry in readers.items():
        data["cases"][case_id] = {"passed": not entry["passed"], "statistic": entry["statistic"]}
    (tmp_path / "inverted.json").write_text(json.dumps(data))
    with environment({ZOO_FILE.env: str(swapped)}):
        judge = _session(swapped, tmp / "cache").judge(baseline=tmp_path / "inverted.json")
    flipped = {e["case_id"]: e for e in judge.entries if e["outcome"] in ("flipped", "borderline flip")}
    assert readers and set(flipped) == set(readers)
    assert all(e["changed_models"] == ["EfficientNet-Lite0"] for e in flipped.values())


def test_amx_diff_compares_two_runs_and_names_the_changed_model(runs, capsys, tmp_path):
    tmp, _, rejudged, _ = runs
    first, second = tmp / "first" / "results.json", tmp / "second" / "results.json"
    flips = sum(e["outcome"] == "flipped" for e in rejudged.entries)
    code = main(["diff", str(first), str(second), "--json", str(tmp_path / "diff.json")])
    assert code == (1 if flips else 0)
    out = capsys.readouterr().out
    assert out.startswith("Models changed: EfficientNet-Lite0 (fingerprint ")
    result = json.loads((tmp_path / "diff.json").read_text())
    assert result["counts"]["unchanged"] + sum(v for k, v in result["counts"].items() if k != "unchanged") \
        == len(rejudged.entries)
    for row in result["rows"]:
        if row["change"] in ("flipped", "borderline flip"):
            assert row["case_id"] in out
    # the baseline (judged cases only) in place of the first results.json: the same models and changes
    from_baseline = diff.diff(diff.read_run(tmp / "baseline.json"), diff.read_run(second))
    assert from_baseline["models"] == result["models"]
    judged = {r["case_id"]: r["change"] for r in result["rows"] if r["old"] in ("holds", "fails")}
    assert {r["case_id"]: r["change"] for r in from_baseline["rows"] if r["case_id"] in judged} == judged
