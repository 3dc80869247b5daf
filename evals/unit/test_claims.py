"""The paper's claim checks on synthetic ScoreTables whose truth is known by construction."""

import numpy as np
import pandas as pd
import pytest

from amx.claims import paper
from amx.pipeline import PAPER_METHODS
from amx.pipeline.table import COLUMNS

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
                "runtime_s": RUNTIME[method] * rng.uniform(0.9, 1.1, n),
                "status": "n/a" if na else "ok", "note": ""}))
    return pd.concat(rows, ignore_index=True)[COLUMNS]


def zoo_rows():
    out = []
    for arch, regime, model in MODELS:
        top1 = TOP1[arch] - (22 if regime == "pgd" else 0.3 if regime.startswith("advprop") else 0)
        out.append({"model": model, "architecture": arch, "regime": regime, "top1": top1})
    return out


@pytest.fixture(scope="module")
def evidence():
    return paper.Evidence(synthetic_table(), zoo_rows())


def test_every_case_has_a_claim_spec_and_a_unique_id():
    ids = [c.id for c in paper.cases()]
    assert len(ids) == len(set(ids))
    assert {c.claim for c in paper.cases()} == set(paper.CLAIMS) == {f"P{i}" for i in range(1, 13)} - {"P11"}
    assert "P1[gradient-pointing_game-resnet]" in ids


def test_the_claims_hold_on_a_table_built_to_satisfy_them(evidence):
    verdicts = {c.id: c.check(evidence) for c in paper.cases()}
    failed = {cid: v.message for cid, v in verdicts.items() if not v.passed}
    assert not failed, failed
    v = verdicts["P1[gradient-wsl-pooled]"]
    assert v.p_value < 1e-6 and v.ci[0] < v.details["effect"] < v.ci[1] and v.n == 2 * 5 * 100


def test_p1_fails_when_robust_models_localise_worse():
    reversed_gain = {k: -v for k, v in ROBUST_GAIN.items()}
    ev = paper.Evidence(synthetic_table(robust_gain=reversed_gain), zoo_rows())
    case = next(c for c in paper.cases() if c.id == "P1[ig-pointing_game-pooled]")
    verdict = case.check(ev)
    assert not verdict.passed and verdict.p_value > 0.5
    assert "robust > vanilla, one-sided MWU" in verdict.message


def test_p2_fails_on_a_large_difference_for_perturbation_methods():
    ev = paper.Evidence(synthetic_table(all_methods_gain=True), zoo_rows())
    verdict = next(c for c in paper.cases() if c.id == "P2[rise-wsl]").check(ev)
    assert not verdict.passed and abs(verdict.statistic) >= paper.P2_SMALL_EFFECT


def test_p4_fails_when_advprop_is_outside_the_interval():
    gains = {**ROBUST_GAIN, "advprop-pgd1": -0.2}
    ev = paper.Evidence(synthetic_table(robust_gain=gains), zoo_rows())
    verdict = next(c for c in paper.cases() if c.id == "P4[pgd1-wsl]").check(ev)
    assert not verdict.passed and verdict.statistic < 0


def test_p7_and_p5_read_runtime_and_ranking(evidence):
    ranking = paper.method_average_ranks(evidence)
    assert ranking.index[0] == "gradcam" and "rise" in ranking.index[:3] and ranking.index[-1] == "mp"
    assert "cam" not in ranking.index
    slow = synthetic_table()
    slow.loc[slow["method"] == "rise", "runtime_s"] = 9.0
    case = next(c for c in paper.cases() if c.id == "P7[ep-slowest]")
    verdict = case.check(paper.Evidence(slow, zoo_rows()))
    assert not verdict.passed and "slowest is rise" in verdict.message


def test_an_incomplete_table_is_an_error_not_a_verdict(evidence):
    no_robust = evidence.scores[evidence.scores["regime"] != "pgd"]
    case = next(c for c in paper.cases() if c.id == "P1[gradient-wsl-pooled]")
    with pytest.raises(ValueError, match="no wsl scores for \\['gradient'\\]"):
        case.check(paper.Evidence(no_robust, zoo_rows()))
