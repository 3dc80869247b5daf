"""The amx pytest plugin, exercised in-process with pytester."""

import pytest
import torch

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
    result.stdout.fnmatch_lines(["amx: world=mini device=cpu n_images=1000"])


def test_default_run_deselects_nothing(pytester):
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
