"""The amx pytest plugin, exercised in-process with pytester."""

import pytest
import torch

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
    result.stdout.fnmatch_lines(["amx: world=mini device=cpu n_images=100"])


def test_the_plugin_itself_deselects_nothing(pytester):
    """Only the project's addopts (-m 'not claims') keep the claims out of the test suite."""
    pytester.makepyfile(MARKED)
    pytester.runpytest("--strict-markers").assert_outcomes(passed=2)


def test_options_are_documented_in_help(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*amx: regenerate explainability claims*", "*--gpu*", "*--world*",
                                 "*--n-images*"])


def test_unknown_world_is_a_usage_error_listing_the_valid_ones(pytester):
    pytester.makepyfile(MARKED)
    result = pytester.runpytest("--world", "imagenet-tiny")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--world: unknown world 'imagenet-tiny'*Valid worlds: mini*"])


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
    assert results["summary"] == [{"claim": "P9", "cases": 3, "passed": 2, "holds": False}]
    html = (pytester.path / "out" / "claims.html").read_text()
    assert "P9[b]" in html and "0 of 1 claims hold" in html and "no baseline" in html


def test_baseline_turns_known_failures_into_xfail_and_flips_into_failures(pytester, monkeypatch):
    import json

    pytester.makepyfile(JUDGED)
    _run_judged(pytester, monkeypatch, "1,0,1", "--baseline", "base.json", "--update-baseline")
    baseline = json.loads((pytester.path / "base.json").read_text())
    assert baseline["world"] == "mini"
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


@pytest.mark.parametrize("args, message", [
    (["--baseline", "missing.json"], "*--baseline: no file missing.json; create it with --update-baseline*"),
    (["--update-baseline"], "*--update-baseline needs --baseline PATH*"),
])
def test_baseline_usage_errors(pytester, args, message):
    pytester.makepyfile(MARKED)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
