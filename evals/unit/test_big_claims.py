"""BIG's claims (003): every case's verdict on synthetic evidence where the claim holds and where
it does not, the figures, and a failed collection."""

import json

import numpy as np
import pandas as pd
import pytest

from amx.claims import CLAIM_SETS, active, big, big_evidence, big_figures
from amx.claims.spec import Evidence, RequestFailed
from amx.data.worlds import get_world
from amx.report.figures import encode

ARCHITECTURES = ("alexnet", "resnet")


def _synthetic(big_better: bool) -> big_evidence.BigEvidence:
    """Two pairs x 16 images: the robust twins' gradients align with the boundary normal (or the
    vanilla twins' do), and BIG localises better than IG and AGI (or worse)."""
    rng = np.random.default_rng(0)
    aligned, scattered = (0.1, 0.4) if big_better else (0.4, 0.1)
    alignment, scores = [], []
    for arch in ARCHITECTURES:
        for regime, level in (("pgd", aligned), ("vanilla", scattered)):
            model = f"{arch}-{regime}"
            for image in range(16):
                alignment.append({"model": model, "architecture": arch, "regime": regime, "image": image,
                                  "distance": 0.3, "found": image != 0, "source": "cw",
                                  "cos_distance": level + rng.uniform(0, 0.05), "l2": 10 * level,
                                  "gradient_norm": 1.0, "seconds": 0.1})
                for method, quality in (("big", 0.8 if big_better else 0.2), ("ig", 0.5), ("agi", 0.5),
                                        ("gradient", 0.4)):
                    hit = float(rng.random() < quality)
                    scores.append({"model": model, "architecture": arch, "regime": regime, "image": image,
                                   "method": method, "pointing_game": hit, "wsl": hit,
                                   "wsl_iou": quality + rng.uniform(-0.05, 0.05),
                                   "energy_pointing_game": quality + rng.uniform(-0.05, 0.05)})
    strips = {"size": 4, "image": 0, "picture": encode(np.zeros((4, 4, 3))),
              "models": {"vanilla": "alexnet-vanilla", "pgd": "alexnet-pgd"},
              **{regime: {m: encode(np.zeros((4, 4))) for m in big_evidence.METHODS}
                 for regime in ("vanilla", "pgd")}}
    return big_evidence.BigEvidence(pd.DataFrame(alignment), pd.DataFrame(scores), strips,
                                    {"world": "synthetic", "n_images": 16, "pairs": {}})


def test_claim_set_003_has_both_claims_and_runs_on_mini_not_photos():
    claim_set = CLAIM_SETS.get("003")
    assert [c.id for c in claim_set.claims] == ["B1", "B2"]
    assert {c.id for c in claim_set.cases()} >= {"B1[pooled]", "B1[resnet]", "B2[big-vs-ig-wsl]",
                                                 "B2[big-vs-agi-energy_pointing_game]"}
    assert "003" in [c.name for c in active(get_world("mini"))]
    assert "003" not in [c.name for c in active(get_world("photos"))]


@pytest.mark.parametrize("big_better", [True, False])
def test_every_case_judges_synthetic_evidence_both_ways(big_better):
    evidence = Evidence(collected={"003": _synthetic(big_better)})
    verdicts = {c.id: c.check(evidence) for c in big.cases() if c.architecture in (None, *ARCHITECTURES)}
    assert len(verdicts) == 3 + 6
    assert all(v.passed == big_better for v in verdicts.values()), [v.message for v in verdicts.values()]
    pooled = verdicts["B1[pooled]"]
    assert pooled.n == 2 * 15  # images without a boundary point are left out
    assert verdicts["B2[big-vs-ig-wsl]"].n == 2 * 2 * 15  # of B2 too
    assert "BIG, ImageNet: 0.28 vs 0.13" in pooled.message and "l2 of the raw gradients" in pooled.message


def test_a_failed_collection_fails_the_big_cases_with_its_reason():
    evidence = Evidence(collected={"003": RequestFailed("ValueError: no vanilla/robust pair")})
    with pytest.raises(ValueError, match="claim set 003 could not collect its evidence"):
        big.cases()[0].check(evidence)


def test_figures_render_from_their_json():
    evidence = Evidence(collected={"003": _synthetic(True)})
    data = json.loads(json.dumps(big_figures.figure_data(evidence)))
    figures = big_figures.render(data)
    assert len(figures) == 3 and all(uri.startswith("data:image/png;base64,") for _, uri in figures)
    assert any("AGI follows the paper's accumulating path" in note for note in data["notes"])


def test_the_request_names_the_claim_set_in_its_errors():
    from amx.evidence import Context

    context = Context(get_world("photos"), 4)
    no_plan = r"claim set 003 \(BIG\): no plan for preset 'photos' \(world 'photos'\).*\['mini', "
    with pytest.raises(ValueError, match=no_plan):
        big_evidence.BoundaryEvidence().plan(context)
    with pytest.raises(ValueError, match="claim set 003 .BIG.: world 'photos' has no vanilla/pgd pair"):
        context.pairs(big_evidence.BoundaryEvidence.who, 4, big_evidence.PAIR)
