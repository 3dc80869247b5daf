"""The claims test: one pytest case per case of every claim set active on the session's world.

The amx plugin parametrises ``claim_case`` from the claim-set registry
(``pytest_generate_tests``), so a new paper's claims need no new test code. A test module runs the
claims by importing this function (``evals/claims/test_claim_sets.py`` does)::

    from amx.claims.suite import test_claim  # noqa: F401
"""

import pytest


@pytest.mark.claims
def test_claim(claim_case, claim_evidence, amx_session):
    """Regenerate ``claim_case`` on its claim set's evidence and judge its verdict and how stable
    it is (or report it not applicable where the world's zoo lacks the models it compares)."""
    amx_session.judge_case(claim_case)
