"""P11 (001, Table 1 / Sec 2.2): robust and AdvProp CNNs against their vanilla twin.

One case per (model pair, check); the statistic, thresholds and the paper's values are data in
``amx.claims.table1``. The regenerated table comes from the session fixture ``zoo_table``.
"""

import pytest

from amx.claims import table1

pytestmark = pytest.mark.claims


def _param(case: table1.Table1Case):
    reason = table1.KNOWN_FAILURES.get(case.id)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in table1.cases()])
def test_P11(case, zoo_table, amx_session, record_property):
    verdict = table1.check(case, zoo_table)
    amx_session.verdicts.append(verdict)
    record_property("claim", verdict.case_id)
    record_property("statistic", verdict.statistic)
    record_property("paper_value", verdict.paper_value)
    assert verdict.passed, verdict.message
