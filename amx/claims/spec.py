"""Claims as data: what the paper says, where, what statistic regenerates it, when it passes.

IDs are the stable ids of ``fixtures/paper/CLAIMS.md`` (P1-P12, S1-S8, B1-B2). A claim expands
into *cases* (one ``pytest.param`` each, id ``P11[resnet-confidence]``); a case's check turns the
regenerated numbers into a ``Verdict`` that the test asserts and the report shows, pass or fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Claim:
    """One claim of a paper. ``choices`` states what the paper leaves open and what amx chose."""

    id: str
    source: str
    section: str
    statement: str
    statistic: str
    pass_when: str
    paper_value: str
    choices: str = ""


@dataclass(frozen=True)
class Verdict:
    """The outcome of one claim case: the regenerated statistic, the threshold, the paper's value."""

    case_id: str
    passed: bool
    statistic: float
    threshold: str
    paper_value: float | None
    message: str
    details: dict = field(default_factory=dict)
    p_value: float | None = None
    ci: tuple[float, float] | None = None  # 95% bootstrap CI of the effect
    n: int | None = None
    test: str | None = None

    @property
    def claim(self) -> str:
        """The claim id (``P1``) of the case id ``P1[gradient-wsl-pooled]``."""
        return self.case_id.split("[")[0]
