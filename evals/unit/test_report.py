"""results.json and claims.html from a synthetic ScoreTable, and `amx report` re-rendering them."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd

from amx.claims import paper
from amx.claims.spec import Evidence
from amx.cli import main
from amx.data.worlds import DEFAULT_WORLD, get_world
from amx.report import load_results, write_html, write_results
from amx.report.results import provenance, summarise
from amx.session import build_results
from evals.unit.test_claims import synthetic_table, zoo_rows


def _results():
    evidence = Evidence(synthetic_table(n=30), zoo_rows())
    entries = []
    for case in paper.cases()[:5] + paper.cases()[-3:]:
        v = case.check(evidence)
        entries.append({**v.record(), "claim": v.claim, "outcome": "passed" if v.passed else "failed",
                        "baseline_change": "no baseline", "baseline": None})
    prov = provenance(get_world(DEFAULT_WORLD), "cpu", "a CPU (2 threads)", 0, 30, {"n_images": 30},
                      {"resnet-mini": "ab" * 32}, {"pipeline": 1.0})
    return build_results(entries, [paper.CLAIM_SET], {"001": evidence}, prov)


def test_results_carry_verdicts_summary_figures_and_provenance(tmp_path):
    results = _results()
    assert [s["claim"] for s in results["summary"]] == [f"P{i}" for i in range(1, 13)]  # every claim
    judged = [s for s in results["summary"] if s["holds"] is not None]
    assert [s["claim"] for s in judged] == ["P1", "P11", "P12"]
    assert results["summary"][1]["cases"] == 0 and results["summary"][1]["headline"] is None
    p1 = results["summary"][0]
    assert p1["cases"] == 5 and p1["claim_set"] == "001" and p1["statement"].startswith("Robust CNNs")
    # its headline case (gradient-wsl-pooled) was not judged: the first judged case stands in
    assert p1["headline"]["case_id"] == "P1[gradient-pointing_game-pooled]"
    assert judged[1]["headline"]["case_id"] == "P11[resnet-advprop-pgd5-top1]"
    assert results["provenance"]["world"] == DEFAULT_WORLD and results["provenance"]["torch"]
    assert set(results["figures"]["001"]) >= {"fig2_family_regime", "fig4_method_ranks", "fig5_per_model"}
    assert set(results["figures"]["001"]["fig6_confidence_bias"]) == {
        "insertion", "insertion_normalized", "deletion", "deletion_normalized"}
    path = write_results(results, tmp_path / "results.json")
    assert load_results(path)["cases"][0]["case_id"] == "P1[gradient-pointing_game-pooled]"


def test_claims_are_summarised_in_their_catalogues_order_then_as_judged():
    from amx.claims.spec import Claim, ClaimSet
    from amx.session import catalogue

    entries = [{"claim": c, "case_id": f"{c}[x]", "passed": True} for c in ("S1", "P10", "X2", "P2", "P1")]
    assert [s["claim"] for s in summarise(entries)] == ["S1", "P10", "X2", "P2", "P1"]  # as judged
    def claims(p):
        return tuple(Claim(f"{p}{i}", "x", "s", "", "", "", "") for i in (10, 2, 1))

    sets = [catalogue(ClaimSet(n, p, n, n, claims(p), lambda: [])) for n, p in (("001", "P"), ("sam", "S"))]
    order = ["P1", "P2", "P10", "S1", "S2", "S10", "X2"]  # claim sets in order, ids naturally, then others
    assert [s["claim"] for s in summarise(entries, sets)] == order


def test_amx_report_re_renders_the_html_from_results_json(tmp_path, capsys):
    path = write_results(_results(), tmp_path / "results.json")
    out = tmp_path / "claims.html"
    assert main(["report", "--results", str(path), "--out", str(out)]) == 0
    html = out.read_text()
    assert "P1[gradient-pointing_game-pooled]" in html and "P12[accuracy-vs-explainability]" in html
    assert html.count("data:image/png;base64,") == 5  # Figs 2-6; Fig 1 needs stored maps
    assert html.index("<h2>Claims</h2>") < html.index("<details")  # the summary comes first
    assert html.count("<details") == 3  # one collapsible section per judged claim
    assert "<script" not in html and "http" not in html.split("<body>")[1]  # self-contained
    written = write_html(load_results(path), tmp_path / "again.html").read_text()
    assert written.split("Generated")[1][:40] == html.split("Generated")[1][:40]


def test_a_missing_or_foreign_results_file_is_named(tmp_path, capsys):
    assert main(["report", "--results", str(tmp_path / "none.json")]) == 2
    assert "none.json: no results file" in capsys.readouterr().err
    (tmp_path / "old.json").write_text(json.dumps({"schema": 0}))
    assert main(["report", "--results", str(tmp_path / "old.json")]) == 2
    assert "old.json: results schema 0" in capsys.readouterr().err


def test_the_report_shows_effects_beside_p_values_and_a_model_by_stage_table():
    from amx.report import render

    results = _results()
    results["provenance"]["passes"] = {
        "forwards": 330, "forward_backwards": 10, "compute_seconds": 3.5, "floor_seconds": 2.0,
        "stage_seconds": 3.0, "efficiency": 0.667,
        "stages": [{"stage": "predict", "model": "m1", "method": None, "metric": None, "images": 300,
                    "seconds": 0.5, "forwards": 300, "forward_backwards": 0},
                   {"stage": "attribute", "model": "m1", "method": "gradient", "metric": None, "images": 10,
                    "seconds": 1.0, "forwards": 0, "forward_backwards": 10},
                   {"stage": "retime", "model": "m1", "method": "gradient", "metric": None, "images": 2,
                    "seconds": 0.5, "forwards": 0, "forward_backwards": 2},
                   {"stage": "score", "model": "m1", "method": None, "metric": "insertion", "images": 10,
                    "seconds": 1.5, "forwards": 30, "forward_backwards": 0}]}
    html = render(results)
    pooled = next(c for c in results["cases"] if c["case_id"] == "P1[gradient-pointing_game-pooled]")
    assert f"r = {pooled['details']['effect']:.3g} [" in html  # its statistic is the p-value, shown beside
    assert "The ScoreTable's stages would take 2.0 s of their 3.0 s" in html
    table = html.split("per model x method, model x metric and model x stage")[1]
    assert "<th>gradient</th><th>insertion</th><th>predict</th>" in table  # methods, metrics, other stages
    assert "<th>m1</th><td class='num'>1.5 s<div class='small'>12 fwd+bwd</div>" in table  # retime added


def test_the_paper_s_figures_show_the_controls_beside_the_methods_and_its_ranking_leaves_them_out():
    from amx.claims.paper_figures import figure_data, render

    table = synthetic_table(n=30)
    rows = table[table["method"] == "gradient"]
    # two controls: "centre" scores best on every metric (WSL and pointing game 1, insertion high,
    # deletion low), "random" worst
    best = rows.assign(method="centre", family="control", pointing_game=1.0, wsl=1.0, insertion=1.0,
                       deletion=0.0)
    worst = rows.assign(method="random", family="control", pointing_game=0.0, wsl=0.0, insertion=0.0,
                        deletion=1.0)
    controls = pd.concat([best, worst], ignore_index=True)
    data = figure_data(Evidence(table, zoo_rows(), controls=controls))
    assert "centre" not in data["fig4_method_ranks"]  # the claims' ranking: the paper's methods only
    ranks = data["fig4_with_controls"]["ranks"]
    assert data["fig4_with_controls"]["controls"] == ["centre", "random"]
    assert ranks["centre"] == min(ranks.values()) < 1.2 and ranks["random"] == max(ranks.values())
    assert set(ranks) - {"centre", "random"} == set(data["fig4_method_ranks"])
    marked = {d["family"] for d in data["fig2_family_regime"] if d["control"]}
    assert marked == {"centre", "random"}
    assert {d["family"] for d in data["fig2_family_regime"] if not d["control"]} == set(table["family"])
    for entry in data["fig3_advprop"] + data["fig5_per_model"]:
        assert entry["controls"]["centre"]["wsl"] == 1.0 and entry["controls"]["random"]["deletion"] == 1.0
    titles = [title for title, _ in render(data)]
    assert any("control maps among them" in t for t in titles) and len(titles) == 5  # Figs 2-6
    assert data["control_images"] == data["fig4_with_controls"]["images"] == 30
    assert "first 30 images" in titles[0]

    # controls scored on each CNN's first images: Fig 4 ranks the methods beside them there alone
    few = controls[controls["image"] < 10]
    ranked = paper.ten(Evidence(table, zoo_rows(), controls=few), controls=True)
    assert sorted(ranked["image"].unique()) == sorted(few["image"].unique())
    assert len(ranked[ranked["family"] != "control"]) == len(table[(table["image"] < 10)
                                                                   & table["regime"].isin(paper.PAIR)
                                                                   & (table["status"] == "ok")])
    fewer = figure_data(Evidence(table, zoo_rows(), controls=few))
    assert fewer["control_images"] == 10
    assert all("first 10 images" in t for t, _ in render(fewer) if "control" in t)

    assert data["fig6_road_bias"] == {}  # no ROAD table of the first images: no ROAD figure

    # the ROAD table: ROAD's orders follow confidence as Deletion does, its combined score does not
    rng = np.random.default_rng(0)
    first = pd.concat([table, controls])
    first = first[first["image"] < 8].assign(road_morf=lambda t: 0.5 * t["confidence"],
                                            road_lerf=lambda t: 0.5 * t["confidence"] + 0.3)
    first["road"] = rng.uniform(0, 0.3, len(first)) + np.where(first["method"] == "centre", 1.0, 0.0)
    road = figure_data(Evidence(table, zoo_rows(), controls=controls,
                                collected={"001": SimpleNamespace(table=first)}))["fig6_road_bias"]
    assert road["images_per_model"] == 8 and road["controls"] == ["centre", "random"]
    assert road["rho"]["road_morf"]["rho"] == road["rho"]["road_lerf"]["rho"] == 1.0
    paper_rows = first[(first["family"] != "control") & (first["status"] == "ok")
                       & first["regime"].isin(paper.PAIR)]
    assert abs(road["rho"]["road"]["rho"]) < 0.1 and road["rho"]["road"]["n"] == len(paper_rows)
    assert max(road["road_means"], key=road["road_means"].get) == "centre"
    assert len(render({**data, "fig6_road_bias": road})) == 6

    without = figure_data(Evidence(table, zoo_rows()))  # a session that scored no controls
    assert without["fig4_with_controls"] is None and len(render(without)) == 5
    assert not any(d["control"] for d in without["fig2_family_regime"])
