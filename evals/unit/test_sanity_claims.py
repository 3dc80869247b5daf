"""Claim set 004 (Adebayo et al. 2018, sanity checks): the parameter randomisation, the similarity
measures, and every kind of case judged on evidence built to pass it and to fail it."""

import numpy as np
import pandas as pd
import pytest
import torch
from skimage.feature import hog

from amx.claims import CLAIM_SETS, sanity, sanity_evidence
from amx.claims.sanity_evidence import MEASURES, SanityEvidence, compare, states
from amx.claims.spec import Evidence
from amx.claims.stability import Draws
from amx.metrics.similarity import HOGConfig, hog_pearson
from amx.zoo import randomise, registry

BLOCKS = ("head", "features.layer3", "features.layer2", "features.layer1", "features.stem")


@pytest.fixture(scope="module")
def resnet():
    return registry.load("resnet-mini", "mini")


def _changed(before, after) -> set[str]:
    old = dict(before.state_dict())
    return {k for k, v in after.state_dict().items() if not torch.equal(v, old[k])}


def test_randomising_a_block_redraws_its_weights_only_and_keeps_the_running_statistics(resnet):
    out = randomise.randomised(resnet, ("features.layer2",), seed=0, name="resnet-mini")
    changed = _changed(resnet, out)
    assert changed and all(k.startswith("features.layer2.") for k in changed)
    assert not any("running_" in k for k in changed)  # BatchNorm's statistics kept, as the reference
    layer = out.features.layer2
    assert torch.all(layer.conv1.weight.abs() <= 2 * np.sqrt(2 / layer.conv1.weight[0].numel()) + 1e-6)
    assert torch.all(layer.bn1.weight == 1) and torch.all(layer.bn1.bias == 0)
    assert not _changed(resnet, registry.load("resnet-mini", "mini"))  # the trained model left as it was


def test_a_block_s_new_weights_depend_on_the_seed_and_the_block_only(resnet):
    alone = randomise.randomised(resnet, ("features.layer2",), seed=3)
    cascade = randomise.randomised(resnet, randomise.cascading(BLOCKS, 3), seed=3)
    other_seed = randomise.randomised(resnet, ("features.layer2",), seed=4)
    w = lambda m: m.features.layer2.conv2.weight  # noqa: E731
    assert torch.equal(w(alone), w(cascade)) and not torch.equal(w(alone), w(other_seed))
    assert {k.split(".")[0] + "." + k.split(".")[1] for k in _changed(resnet, cascade)
            if k.startswith("features")} == {"features.layer3", "features.layer2"}
    assert any(k.startswith("head.") for k in _changed(resnet, cascade))


def test_a_block_that_is_not_a_module_names_the_model_and_the_block(resnet):
    with pytest.raises(ValueError, match="model 'resnet-mini': block 'features.layer9' names"):
        randomise.randomised(resnet, ("features.layer9",), seed=0, name="resnet-mini")


def test_the_states_of_both_modes_share_the_logits_block_alone():
    found = states(BLOCKS[:3], ("cascading", "independent"))
    assert found == [("cascading", 1, ("head",)), ("cascading", 2, ("head", "features.layer3")),
                     ("cascading", 3, BLOCKS[:3]), ("independent", 1, ("head",)),
                     ("independent", 2, ("features.layer3",)), ("independent", 3, ("features.layer2",))]


def test_hog_pearson_is_the_correlation_of_scikit_image_s_hog_features():
    rng = np.random.default_rng(0)
    a, b = rng.random((3, 32, 32)), rng.random((3, 32, 32))
    config = HOGConfig(pixels_per_cell=4)
    expected = [np.corrcoef(hog(x / x.max(), pixels_per_cell=(4, 4), cells_per_block=(3, 3)),
                            hog(y / y.max(), pixels_per_cell=(4, 4), cells_per_block=(3, 3)))[0, 1]
                for x, y in zip(a, b, strict=True)]
    assert np.allclose(hog_pearson(a, b, config).numpy(), expected, atol=1e-12)
    with pytest.raises(ValueError, match="smaller than one HOG block"):
        hog_pearson(a[:, :8, :8], b[:, :8, :8], config)


def test_a_map_is_fully_similar_to_itself_and_a_constant_randomised_map_to_nothing():
    rng = np.random.default_rng(1)
    maps = rng.standard_normal((2, 16, 16))
    same = compare(maps, maps.copy(), HOGConfig(pixels_per_cell=4))
    assert all(np.allclose(same[m], 1.0) for m in MEASURES)
    flat = compare(maps, np.zeros_like(maps), HOGConfig(pixels_per_cell=4))
    assert np.all(flat["spearman_abs"] == 0) and np.all(flat["hog"] == 0)


def _evidence(similar: dict[tuple[str, str], float], methods=sanity_evidence.PAPER_METHODS, n=12,
              others=("rise",)) -> Evidence:
    """Evidence whose every measure of (method, regime) is about ``similar[method, regime]``, on
    ``n`` images of three pairs, both modes."""
    rng = np.random.default_rng(0)
    rows = []
    for arch in ("resnet", "alexnet", "densenet"):
        for regime in ("vanilla", "pgd"):
            for method in methods:
                centre = similar[method, regime]
                for image in range(n):
                    for mode in ("cascading", "independent"):
                        for step in (1, 2, 3):
                            rows.append({"model": f"{arch}-{regime}", "architecture": arch, "regime": regime,
                                         "method": method, "image": image, "mode": mode, "step": step,
                                         **{m: centre + 0.05 * rng.standard_normal() for m in MEASURES}})
    plan = {"preset": "mini", "paper_methods": list(sanity_evidence.PAPER_METHODS), "others": list(others)}
    return Evidence(collected={"004": SanityEvidence(pd.DataFrame(rows), {}, plan)})


def _cases(claim: str) -> dict:
    return {c.name: c for c in sanity.cases() if c.claim == claim}


AS_THE_PAPER = {(m, r): s for m, s in (("gradient", 0.2), ("gradcam", 0.1), ("guided_backprop", 0.9),
                                       ("guided_gradcam", 0.8)) for r in ("vanilla", "pgd")}


@pytest.mark.parametrize("claim", ["A1", "A2"])
def test_the_paper_s_cases_hold_on_evidence_like_the_paper_s_and_fail_on_the_reverse(claim):
    holds = _evidence(AS_THE_PAPER)
    reverse = _evidence({k: 1 - v for k, v in AS_THE_PAPER.items()})
    cases = _cases(claim)
    assert len(cases) == 4 * len(MEASURES)
    for case in cases.values():
        assert case.check(holds).passed, case.id
        assert not case.check(reverse).passed, case.id
        assert case.resample(holds, Draws(20)).all()
        assert not case.resample(reverse, Draws(20)).any()


def test_a3_holds_where_robust_maps_change_as_much_and_fails_where_they_stay_similar():
    alike = _evidence({(m, r): 0.3 for m in sanity_evidence.PAPER_METHODS for r in ("vanilla", "pgd")})
    robust_stays = _evidence({(m, r): 0.3 if r == "vanilla" else 0.8
                              for m in sanity_evidence.PAPER_METHODS for r in ("vanilla", "pgd")})
    case = _cases("A3")["gradient"]
    verdict = case.check(alike)
    assert verdict.passed and verdict.p_value >= 0.05
    failed = case.check(robust_stays)
    assert not failed.passed and failed.statistic == pytest.approx(0.5, abs=0.05)
    assert failed.details["pass_rates"] == {"vanilla": 1.0, "pgd": 0.0}


def test_a3_of_a_method_the_preset_s_plan_leaves_out_is_not_applicable():
    evidence = _evidence(AS_THE_PAPER, others=())
    assert "leaves lime out" in _cases("A3")["lime"].needs(evidence)
    assert _cases("A3")["gradient"].needs(evidence) is None


def test_claim_set_004_is_registered_with_its_catalogue_ids():
    claim_set = CLAIM_SETS.get("004")
    assert [c.id for c in claim_set.claims] == ["A1", "A2", "A3"]
    assert {c.claim for c in claim_set.cases()} == {"A1", "A2", "A3"}
    assert isinstance(claim_set.own[0], sanity_evidence.RandomisationEvidence)


def test_randomisation_in_place_equals_the_copy_s_and_restores_the_model_bit_for_bit(resnet):
    before = {k: v.clone() for k, v in resnet.state_dict().items()}
    copy = randomise.randomised(resnet, BLOCKS[:2], seed=5)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with randomise.randomisation(resnet, BLOCKS[:2], seed=5) as model:
        assert torch.equal(model(x), copy(x))
    assert all(torch.equal(v, before[k]) for k, v in resnet.state_dict().items())


def _signed_gradient(model, inputs, targets, **kwargs) -> np.ndarray:
    """The sanity checks' Gradient map (signed channel mean), a Quantus ``explain_func``: ``[B, 1, H, W]``."""
    from amx.methods.gradient import Gradient

    method = Gradient(Gradient.Config(**sanity_evidence.signed("gradient")))
    x = torch.as_tensor(np.asarray(inputs), dtype=torch.float32)
    return method(model, x, torch.as_tensor(np.asarray(targets)).long()).numpy()[:, None]


def test_the_cascade_s_similarities_equal_quantus_mprt_on_the_same_randomised_models(resnet):
    """Quantus 0.6.0's MPRT and amx's similarity on the same model, maps and layer order. Quantus's
    randomisation (transcribed below to give amx the same models) departs from the paper's and
    amx's: it re-draws every module with ``reset_parameters`` one at a time, BatchNorm included (its
    running statistics reset: the paper and amx keep them), all from ``seed + 1``, top down by
    default; and its average over the layers includes the original-vs-original term (1)."""
    import copy

    import quantus

    from amx.data.arrays import load_split
    from amx.data.worlds import get_world

    pool = load_split(get_world("mini"), "eval", 8)
    x, y = pool.images[:4].astype(np.float32) / 255, pool.labels[:4].astype(np.int64)
    kwargs = dict(seed=42, abs=True, normalise=True, disable_warnings=True, display_progressbar=False)
    found = quantus.MPRT(return_average_correlation=False, **kwargs)(
        model=resnet, x_batch=x, y_batch=y, a_batch=None, explain_func=_signed_gradient, device="cpu")
    layers = [(n, m) for n, m in copy.deepcopy(resnet).named_modules() if hasattr(m, "reset_parameters")]
    assert list(found) == ["original", *[n for n, _ in layers[::-1]]]  # top down, BatchNorm layers included
    assert np.allclose(found["original"], 1.0)
    model = copy.deepcopy(resnet)
    modules = dict(model.named_modules())
    original = _signed_gradient(resnet, x, y)[:, 0]
    steps = []
    for name, _ in layers[::-1]:
        torch.manual_seed(42 + 1)
        modules[name].reset_parameters()
        steps.append(compare(original, _signed_gradient(model, x, y)[:, 0], HOGConfig(pixels_per_cell=4))
                     ["spearman_abs"])
        assert np.allclose(steps[-1], found[name], atol=1e-10), name
    average = quantus.MPRT(return_average_correlation=True, **kwargs)(
        model=resnet, x_batch=x, y_batch=y, a_batch=None, explain_func=_signed_gradient, device="cpu")
    steps = np.array(steps)
    assert np.allclose(average, (1.0 + steps.sum(0)) / (len(steps) + 1))  # the original term averaged in
    assert not np.allclose(average, steps.mean(0))  # amx's s: the randomised steps only


def test_a_paper_case_s_confidence_interval_is_that_of_its_statistic():
    verdict = _cases("A1")["gradient-spearman_abs"].check(_evidence(AS_THE_PAPER))
    low, high = verdict.ci
    assert low < verdict.statistic < high and abs(verdict.statistic - 0.2) < 0.05


def test_a_block_drawn_again_from_the_process_s_draws_is_the_same(resnet, monkeypatch):
    first = randomise.randomised(resnet, BLOCKS[:3], seed=7)
    monkeypatch.setattr(randomise, "_DRAWN", randomise.OrderedDict())  # nothing drawn yet
    fresh = randomise.randomised(resnet, BLOCKS[:3], seed=7)
    again = randomise.randomised(resnet, BLOCKS[:3], seed=7)  # from the draws kept
    for a, b, c in zip(first.state_dict().values(), fresh.state_dict().values(), again.state_dict().values(),
                       strict=True):
        assert torch.equal(a, b) and torch.equal(b, c)
