"""P1-P10 and P12 (001): one test per claim, one case per method / metric / family / CNN it
ranges over. Statements, statistics, thresholds and the paper's values are data in
``amx.claims.paper``; each case's verdict is judged (and compared with ``--baseline``) by the
session, which also puts it in the report."""

import pytest

from amx.claims import paper

pytestmark = pytest.mark.claims


def _cases(claim: str):
    return [pytest.param(case, id=case.name) for case in paper.cases() if case.claim == claim]


@pytest.mark.parametrize("case", _cases("P1"))
def test_P1(case, claim_evidence, amx_session):
    amx_session.judge(case.check(claim_evidence))


@pytest.mark.parametrize("case", _cases("P2"))
def test_P2(case, claim_evidence, amx_session):
    amx_session.judge(case.check(claim_evidence))


@pytest.mark.parametrize("case", _cases("P3"))
def test_P3(case, claim_evidence, amx_session):
    amx_session.judge(case.check(claim_evidence))


@pytest.mark.parametrize("case", _cases("P4"))
def test_P4(case, claim_evidence, amx_session):
    amx_session.judge(case.check(claim_evidence))


@pytest.mark.parametrize("case", _cases("P5"))
def test_P5(case, claim_evidence, amx_session):
    amx_session.judge(case.check(claim_evidence))


@pytest.mark.parametrize("case", _cases("P6"))
def test_P6(case, claim_evidence, amx_session):
    amx_session.judge(case.check(claim_evidence))


@pytest.mark.parametrize("case", _cases("P7"))
def test_P7(case, claim_evidence, amx_session):
    amx_session.judge(case.check(claim_evidence))


@pytest.mark.parametrize("case", _cases("P8"))
def test_P8(case, claim_evidence, amx_session):
    amx_session.judge(case.check(claim_evidence))


@pytest.mark.parametrize("case", _cases("P9"))
def test_P9(case, claim_evidence, amx_session):
    amx_session.judge(case.check(claim_evidence))


@pytest.mark.parametrize("case", _cases("P10"))
def test_P10(case, claim_evidence, amx_session):
    amx_session.judge(case.check(claim_evidence))


@pytest.mark.parametrize("case", _cases("P12"))
def test_P12(case, claim_evidence, amx_session):
    amx_session.judge(case.check(claim_evidence))
