"""The paper's claim checks on synthetic ScoreTables whose truth is known by construction."""

import numpy as np
import pandas as pd
import pytest

from amx.claims import paper, table1
from amx.claims.spec import Evidence
from amx.metrics import METRICS
from amx.pipeline.table import table_columns

PAPER_METHODS = paper.PAPER_METHODS
COLUMNS = table_columns(METRICS.get(m) for m in paper.PAPER_METRICS)

FAMILY = {m: f for f, ms in paper.GROUPS.items() for m in ms}
MODELS = [(a, "vanilla", a) for a in paper.ARCHITECTURES]
MODELS += [(a, "pgd", f"{a}-R") for a in paper.ARCHITECTURES]
MODELS += [("resnet", "advprop-pgd1", "resnet-PGD1"), ("resnet", "advprop-pgd5", "resnet-PGD5")]
RUNTIME = {"gradient": 0.001, "gradcam": 0.0012, "cam": 0.002, "ig": 0.02, "shap": 0.05, "rise": 0.3,
           "lime": 0.2, "mp": 0.1, "ep": 0.5}
QUALITY = {"gradcam": 0.9, "rise": 0.85, "ep": 0.8, "cam": 0.8, "gradient": 0.6, "lime": 0.55,
           "ig": 0.5, "shap": 0.45, "mp": 0.2}
# localisation gain of the robust twin, AdvProp half-way
ROBUST_GAIN = {"vanilla": 0.0, "advprop-pgd1": 0.15, "advprop-pgd5": 0.2, "pgd": 0.4}
TOP1 = {"alexnet": 97.5, "googlenet": 96.5, "resnet": 98.3, "densenet": 97.3, "mobilenet": 95.0}


def synthetic_table(n=100, seed=0, robust_gain=ROBUST_GAIN, all_methods_gain=False) -> pd.DataFrame:
    """Rows with the paper's structure: gradient methods localise better on robust CNNs, robust
    CNNs are less confident, and Insertion / Deletion follow confidence."""
    rng = np.random.default_rng(seed)
    rows = []
    for arch, regime, model in MODELS:
        confidence_level = 0.5 if regime == "pgd" else 0.95
        for method in PAPER_METHODS:
            na = method == "cam" and arch in ("alexnet", "mobilenet")
            gain = robust_gain[regime] if (FAMILY[method] == "gradient" or all_methods_gain) else 0.0
            quality = min(QUALITY[method] + gain, 1.0) - 0.05 * paper.ARCHITECTURES.index(arch) / 4
            conf = np.clip(rng.normal(confidence_level, 0.1, n), 0.05, 1.0)
            iou = np.clip(rng.normal(quality * 0.7, 0.15, n), 0, 1)
            rows.append(pd.DataFrame({
                "model": model, "architecture": arch, "regime": regime, "method": method,
                "family": FAMILY[method], "image": np.arange(n), "label": 0, "predicted": 0,
                "confidence": conf, "correct": True,
                "pointing_game": np.nan if na else (iou + rng.normal(0, 0.05, n) > 0.35).astype(float),
                "wsl": np.nan if na else (iou >= 0.5).astype(float), "wsl_iou": np.nan if na else iou,
                "wsl_threshold": 0.2, "insertion": np.nan if na else conf * (0.6 + 0.1 * quality),
                "deletion": np.nan if na else conf * 0.2 - 0.005 * quality + rng.normal(0, 0.01, n),
                "insertion_normalized": np.nan if na else 0.6 + 0.1 * quality,
                "deletion_normalized": np.nan if na else 0.2 - 0.005 * quality,
                "runtime_s": RUNTIME[method] * rng.uniform(0.9, 1.1, n),
                "status": "n/a" if na else "ok", "note": ""}))
    return pd.concat(rows, ignore_index=True)[COLUMNS]


N_EVAL = 1000


def with_images(row: dict) -> dict:
    """``row`` with per-image results (of ``N_EVAL`` images) that give its top-1, PGD top-1 and
    confidence, as ``amx.zoo.evaluate`` records them for resampling."""
    ranks = np.arange(N_EVAL)
    per_image = {"correct": (ranks < round(row["top1"] * N_EVAL / 100)).astype(int).tolist(),
                 "adv_correct": (ranks < round(row["pgd_top1"] * N_EVAL / 100)).astype(int).tolist(),
                 "confidence": [row["confidence_mean"]] * N_EVAL}
    return {**row, "per_image": per_image}


def zoo_rows():
    """Table 1 with the paper's structure: robust models less accurate, less confident, more robust."""
    out = []
    for arch, regime, model in MODELS:
        robust, advprop = regime == "pgd", regime.startswith("advprop")
        top1 = TOP1[arch] - (22 if robust else 0.3 if advprop else 0)
        out.append(with_images({"model": model, "architecture": arch, "regime": regime, "top1": top1,
                                "pgd_top1": 35.0 if robust else 15.0 if advprop else 2.0,
                                "confidence_mean": 0.5 if robust else 0.95, "sha256": "ab" * 32}))
    return out


@pytest.fixture(scope="module")
def evidence():
    return Evidence(synthetic_table(), zoo_rows())


def test_every_case_has_a_claim_spec_and_a_unique_id():
    ids = [c.id for c in paper.cases()]
    assert len(ids) == len(set(ids)) == 105
    assert {c.claim for c in paper.cases()} == set(paper.CLAIMS) == {f"P{i}" for i in range(1, 13)}
    assert "P1[gradient-pointing_game-resnet]" in ids and "P11[resnet-advprop-pgd1-top1]" in ids
    for claim in paper.CLAIMS.values():  # every headline names one of the claim's cases
        assert f"{claim.id}[{claim.headline}]" in ids


def test_the_claims_hold_on_a_table_built_to_satisfy_them(evidence):
    verdicts = {c.id: c.check(evidence) for c in paper.cases()}
    failed = {cid: v.message for cid, v in verdicts.items() if not v.passed}
    assert not failed, failed
    v = verdicts["P1[gradient-wsl-pooled]"]
    assert v.p_value < 1e-6 and v.ci[0] < v.details["effect"] < v.ci[1] and v.n == 2 * 5 * 100


def test_p1_fails_when_robust_models_localise_worse():
    reversed_gain = {k: -v for k, v in ROBUST_GAIN.items()}
    ev = Evidence(synthetic_table(robust_gain=reversed_gain), zoo_rows())
    case = next(c for c in paper.cases() if c.id == "P1[ig-pointing_game-pooled]")
    verdict = case.check(ev)
    assert not verdict.passed and verdict.p_value > 0.5
    assert "robust > vanilla, one-sided MWU" in verdict.message


def test_p2_fails_on_a_large_difference_for_perturbation_methods():
    ev = Evidence(synthetic_table(all_methods_gain=True), zoo_rows())
    verdict = next(c for c in paper.cases() if c.id == "P2[rise-wsl]").check(ev)
    assert not verdict.passed and abs(verdict.statistic) >= paper.P2_SMALL_EFFECT


def test_p4_fails_when_advprop_is_outside_the_interval():
    gains = {**ROBUST_GAIN, "advprop-pgd1": -0.2}
    ev = Evidence(synthetic_table(robust_gain=gains), zoo_rows())
    verdict = next(c for c in paper.cases() if c.id == "P4[pgd1-wsl]").check(ev)
    assert not verdict.passed and verdict.statistic < 0


def test_p7_and_p5_read_runtime_and_ranking(evidence):
    ranking = paper.method_average_ranks(evidence)
    assert ranking.index[0] == "gradcam" and "rise" in ranking.index[:3] and ranking.index[-1] == "mp"
    assert "cam" not in ranking.index
    slow = synthetic_table()
    slow.loc[slow["method"] == "rise", "runtime_s"] = 9.0
    case = next(c for c in paper.cases() if c.id == "P7[ep-slowest]")
    verdict = case.check(Evidence(slow, zoo_rows()))
    assert not verdict.passed and "slowest is rise" in verdict.message


def test_an_incomplete_table_is_an_error_not_a_verdict(evidence):
    no_robust = evidence.scores[evidence.scores["regime"] != "pgd"]
    case = next(c for c in paper.cases() if c.id == "P1[gradient-wsl-pooled]")
    with pytest.raises(ValueError, match="no wsl scores for \\['gradient'\\]"):
        case.check(Evidence(no_robust, zoo_rows()))


def _case(case_id: str):
    return next(c for c in paper.cases() if c.id == case_id)


def _scaled(table: pd.DataFrame, column: str, factor: dict) -> pd.DataFrame:
    """``table`` with ``column`` multiplied per regime by ``factor``."""
    out = table.copy()
    out[column] = out[column] * out["regime"].map(factor).fillna(1.0)
    return out


def _shuffled(table: pd.DataFrame, column: str, seed: int = 1) -> pd.DataFrame:
    """``table`` with ``column`` permuted across rows: it no longer relates to anything."""
    out = table.copy()
    ok = out["status"] == "ok"
    out.loc[ok, column] = np.random.default_rng(seed).permutation(out.loc[ok, column].to_numpy())
    return out


def _zoo_with(**changes) -> list[dict]:
    """Table 1 rows with ``changes[model] = {column: value}`` applied."""
    return [with_images({**row, **changes.get(row["model"].replace("-", "_"), {})}) for row in zoo_rows()]


def _ranked_last(method: str) -> pd.DataFrame:
    """Every score of ``method`` made the worst of all methods."""
    out = synthetic_table()
    mine = out["method"] == method
    for column in ("pointing_game", "wsl", "wsl_iou", "insertion"):
        out.loc[mine, column] = -1.0
    out.loc[mine, "deletion"] = 9.0
    return out


def _best_everywhere(model: str) -> pd.DataFrame:
    out = synthetic_table()
    for column in ("pointing_game", "wsl", "wsl_iou"):
        out.loc[out["model"] == model, column] = 2.0
    return out


# Evidence built to break each claim, case by case: (case id, evidence, why it must fail).
BROKEN = {
    "P3[gradient-insertion]": lambda: Evidence(_scaled(synthetic_table(), "insertion", {"pgd": 3.0}),
                                               zoo_rows()),
    "P3[perturbation-deletion]": lambda: Evidence(_scaled(synthetic_table(), "deletion", {"pgd": 5.0}),
                                                  zoo_rows()),
    "P5[gradcam-top3]": lambda: Evidence(_ranked_last("gradcam"), zoo_rows()),
    "P5[mp-last]": lambda: Evidence(_ranked_last("rise"), zoo_rows()),
    "P6[gradient-vs-lime]": lambda: Evidence(_ranked_last("gradient"), zoo_rows()),
    "P8[argmax-wsl]": lambda: Evidence(_best_everywhere("resnet"), zoo_rows()),
    "P8[insertion-vs-top1]": lambda: Evidence(synthetic_table(), _zoo_with(  # robust models most accurate
        **{m.replace("-", "_"): {"top1": 90.0 if r == "pgd" else 50.0} for _, r, m in MODELS})),
    "P9[image]": lambda: Evidence(_shuffled(synthetic_table(), "deletion"), zoo_rows()),
    "P10[insertion-deletion]": lambda: Evidence(_shuffled(synthetic_table(), "insertion"), zoo_rows()),
    "P10[pointing_game-insertion]": lambda: Evidence(
        synthetic_table().assign(insertion=lambda t: t["pointing_game"]), zoo_rows()),
    "P11[resnet-confidence]": lambda: Evidence(None, _zoo_with(resnet_R={"confidence_mean": 0.9})),
    "P11[alexnet-pgd_top1]": lambda: Evidence(None, _zoo_with(alexnet_R={"pgd_top1": 5.0})),
    "P11[resnet-advprop-pgd1-top1]": lambda: Evidence(None, _zoo_with(resnet_PGD1={"top1": 80.0})),
    "P12[accuracy-vs-explainability]": lambda: Evidence(_best_everywhere("resnet"), _zoo_with(
        resnet={"top1": 99.9})),
}


@pytest.mark.parametrize("case_id", sorted(BROKEN))
def test_every_claim_fails_on_evidence_built_to_break_it(case_id, evidence):
    assert _case(case_id).check(evidence).passed  # holds on the table built to satisfy the claims
    verdict = _case(case_id).check(BROKEN[case_id]())
    assert not verdict.passed, verdict.message
    assert verdict.case_id == case_id and verdict.threshold


def test_each_of_p1_to_p12_is_shown_able_to_fail():
    shown = {cid.split("[")[0] for cid in BROKEN}
    shown |= {"P1", "P2", "P4", "P7"}  # the tests above this section
    assert shown == set(paper.CLAIMS)


def test_p11_rules_print_what_they_check():
    assert str(table1.RULES[True, "confidence"]) == "confidence ratio vanilla / robust >= 1.25"
    assert table1.RULES[False, "top1"].passes(-3.0) and not table1.RULES[False, "top1"].passes(3.1)
