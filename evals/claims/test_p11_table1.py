"""P11 (001, Table 1 / Sec 2.2): robust and AdvProp CNNs against their vanilla twin.

One case per (model pair, check); the statistic, thresholds and the paper's values are data in
``amx.claims.table1``. The regenerated table comes from the session fixture ``zoo_table``.
"""

import pytest

from amx.claims import table1

pytestmark = pytest.mark.claims


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in table1.cases()])
def test_P11(case, zoo_table, amx_session):
    amx_session.judge(table1.check(case, zoo_table))
