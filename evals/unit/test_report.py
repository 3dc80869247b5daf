"""results.json and claims.html from a synthetic ScoreTable, and `amx report` re-rendering them."""

import json
from dataclasses import asdict

from amx.claims import paper
from amx.cli import main
from amx.data.worlds import MINI
from amx.report import build_results, load_results, write_html, write_results
from amx.report.results import provenance
from evals.unit.test_claims import synthetic_table, zoo_rows


def _results():
    table, zoo = synthetic_table(n=30), zoo_rows()
    for row in zoo:
        row.update(pgd_top1=1.0, confidence_mean=0.9, sha256="ab" * 32)
    evidence = paper.Evidence(table, zoo)
    entries = []
    for case in paper.cases()[:5] + paper.cases()[-3:]:
        v = case.check(evidence)
        entries.append({**asdict(v), "claim": v.claim, "outcome": "passed" if v.passed else "failed",
                        "baseline_change": "no baseline", "baseline": None})
    prov = provenance(MINI, "cpu", {"n_images": 30}, {"resnet-mini": "ab" * 32}, {"pipeline": 1.0})
    return build_results(entries, table, zoo, prov)


def test_results_carry_verdicts_summary_figures_and_provenance(tmp_path):
    results = _results()
    assert [s["claim"] for s in results["summary"]] == ["P1", "P10", "P12"]
    assert results["summary"][0]["cases"] == 5
    assert results["provenance"]["world"] == "mini" and results["provenance"]["torch"]
    assert set(results["figures"]) >= {"fig2_family_regime", "fig4_method_ranks", "fig5_per_model"}
    path = write_results(results, tmp_path / "results.json")
    assert load_results(path)["cases"][0]["case_id"] == "P1[gradient-pointing_game-pooled]"


def test_amx_report_re_renders_the_html_from_results_json(tmp_path, capsys):
    path = write_results(_results(), tmp_path / "results.json")
    out = tmp_path / "claims.html"
    assert main(["report", "--results", str(path), "--out", str(out)]) == 0
    html = out.read_text()
    assert "P1[gradient-pointing_game-pooled]" in html and "P12[accuracy-vs-explainability]" in html
    assert html.count("data:image/png;base64,") == 5  # Figs 2-6; Fig 1 needs cached maps
    assert "<script" not in html and "http" not in html.split("<body>")[1]  # self-contained
    written = write_html(load_results(path), tmp_path / "again.html").read_text()
    assert written.split("Generated")[1][:40] == html.split("Generated")[1][:40]


def test_a_missing_or_foreign_results_file_is_named(tmp_path, capsys):
    assert main(["report", "--results", str(tmp_path / "none.json")]) == 2
    assert "none.json: no results file" in capsys.readouterr().err
    (tmp_path / "old.json").write_text(json.dumps({"schema": 0}))
    assert main(["report", "--results", str(tmp_path / "old.json")]) == 2
    assert "old.json: results schema 0" in capsys.readouterr().err
