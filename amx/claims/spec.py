"""Claims as data: what a paper says, where, what statistic regenerates it, when it passes.

IDs are the stable ids of ``fixtures/paper/CLAIMS.md`` (P1-P12, S1-S8, B1-B2). A claim expands
into *cases* (one ``pytest.param`` each, id ``P11[resnet-confidence]``); a case's check turns the
regenerated ``Evidence`` into a ``Verdict`` that the test asserts and the report shows, pass or
fail. A paper's claims, cases, the evidence they need and their figures form a ``ClaimSet``,
registered in ``amx.claims.CLAIM_SETS``.

Thresholds are objects that check a value and print themselves, so a claim's pass rule is
written once:

>>> rule = Less(0.003, "p")
>>> rule.passes(0.001), str(rule)
(True, 'p < 0.003')
>>> str(AnyOf(AtLeast(0.003, "p"), AbsLess(0.3, "|r|")))
'p >= 0.003 or |r| < 0.3'
>>> sorted(["P10", "P2", "S1", "P1"], key=claim_order)
['P1', 'P2', 'P10', 'S1']
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# --- thresholds ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Threshold:
    """A pass rule on one statistic (named ``stat`` when printed). ``holds`` judges an array of
    values at once (one per bootstrap resample, ``amx.claims.stability``)."""

    def holds(self, values) -> np.ndarray:
        raise NotImplementedError

    def passes(self, value) -> bool:
        return bool(self.holds(value))


_COMPARISONS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}


@dataclass(frozen=True)
class Compare(Threshold):
    """``stat op bound``, e.g. ``p < 0.003``; ``absolute`` compares ``|value|``."""

    op: str
    bound: float
    stat: str = ""
    absolute: bool = False

    def __post_init__(self):
        if self.op not in _COMPARISONS:
            raise ValueError(f"Compare: op must be one of {sorted(_COMPARISONS)}, got {self.op!r}")

    def holds(self, values) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        return np.asarray(_COMPARISONS[self.op](np.abs(values) if self.absolute else values, self.bound))

    def __str__(self) -> str:
        return f"{self.stat} {self.op} {self.bound:g}".strip()


# The rules by name, so that they read as words: Less(0.003, "p") is ``p < 0.003``.
def Less(bound: float, stat: str = "") -> Compare:
    return Compare("<", bound, stat)


def Greater(bound: float, stat: str = "") -> Compare:
    return Compare(">", bound, stat)


def AtLeast(bound: float, stat: str = "") -> Compare:
    return Compare(">=", bound, stat)


def AtMost(bound: float, stat: str = "") -> Compare:
    return Compare("<=", bound, stat)


def Equal(target: float, stat: str = "") -> Compare:
    return Compare("==", target, stat)


def AbsLess(bound: float, stat: str = "|.|") -> Compare:
    return Compare("<", bound, stat, absolute=True)


@dataclass(frozen=True)
class Between(Threshold):
    """``low < value < high`` (``inclusive``: ``<=``)."""

    low: float
    high: float
    stat: str = ""
    inclusive: bool = False

    def holds(self, values) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        if self.inclusive:
            return (self.low <= values) & (values <= self.high)
        return (self.low < values) & (values < self.high)

    def __str__(self) -> str:
        op = "<=" if self.inclusive else "<"
        return f"{self.low:g} {op} {self.stat or 'value'} {op} {self.high:g}"


@dataclass(frozen=True)
class IsTrue(Threshold):
    """Passes when the statistic (a 0/1 flag) is true; prints what it asserts."""

    what: str

    def holds(self, values) -> np.ndarray:
        return np.asarray(values, dtype=bool)

    def __str__(self) -> str:
        return self.what


@dataclass(frozen=True)
class AnyOf(Threshold):
    """Passes when any of its rules passes; ``holds`` takes one value (or array) per rule."""

    rules: tuple[Threshold, ...]

    def __init__(self, *rules: Threshold):
        object.__setattr__(self, "rules", rules)

    def holds(self, values) -> np.ndarray:
        return np.logical_or.reduce([rule.holds(v) for rule, v in zip(self.rules, values, strict=True)])

    def __str__(self) -> str:
        return " or ".join(str(r) for r in self.rules)


# --- claims, verdicts, cases -------------------------------------------------------------------


def claim_order(claim_id: str) -> tuple:
    """Natural order of claim ids for any prefix: P2 before P10, P12 before S1."""
    match = re.fullmatch(r"([A-Za-z_]*)(\d*)(.*)", claim_id)
    prefix, number, rest = match.groups()
    return (prefix, int(number) if number else -1, rest)


@dataclass(frozen=True)
class Claim:
    """One claim of a paper. ``choices`` states, in prose, what the paper leaves open and what
    amx chose. ``headline``: the name of the case whose statistic summarises the claim. ``timed``:
    its statistic reads runtimes measured on the run's machine, so it may differ between machines
    for their speed, not their rounding (``amx stability --kernels`` reports such cases apart)."""

    id: str
    source: str
    section: str
    statement: str
    statistic: str
    pass_when: str
    paper_value: str
    choices: str = ""
    headline: str = ""
    timed: bool = False


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
    ci: tuple[float, float] | None = None  # 95% CI of the effect
    n: int | None = None
    test: str | None = None
    # where the verdict is decided by ``p_value``: whether it passes at another p (a Holm-adjusted one)
    rejudge: Callable[[float], bool] | None = field(default=None, repr=False, compare=False)

    def record(self) -> dict:
        """The verdict as JSON-ready data (``p_decides``: whether its p-value decides it)."""
        out = {k: v for k, v in asdict(self).items() if k != "rejudge"}
        return {**out, "p_decides": self.rejudge is not None}

    @property
    def claim(self) -> str:
        """The claim id (``P1``) of the case id ``P1[gradient-wsl-pooled]``."""
        return self.case_id.split("[")[0]


@dataclass(frozen=True)
class RequestFailed:
    """An evidence request raised (a claim set's own, or a ScoreTable one of whose tasks failed):
    ``reason`` says why (the cases that read it fail with it)."""

    reason: str


@dataclass(frozen=True)
class Evidence:
    """What one claim set's cases are checked on: its ScoreTable (``scores``), the regenerated
    Table 1 rows (``zoo``), what its own requests computed (``collected``: ``{claim set:
    evidence}``, e.g. the SAM sweeps), and where a live run has them, the ``RunResult`` (its stored
    maps) and the world; ``scores_failed``: why its ScoreTable could not be computed.

    A ScoreTable task that failed (``amx.pipeline.executor.TaskFailed``) leaves its (model,
    method)'s rows as ``status == "error"`` rows naming it; ``reading(models)`` is the evidence
    of a case that reads ``models``, whose ScoreTable (``ok``) cannot be read when one of them
    has such rows, so that only the cases that read a failed model fail, and none is judged on a
    table silently missing its rows."""

    scores: pd.DataFrame | None = None
    zoo: list[dict] | None = None
    run: Any = None
    world: Any = None
    collected: dict = field(default_factory=dict)
    scores_failed: str | None = None
    unreadable: str | None = None  # why this case's ScoreTable cannot be read (``reading``)
    controls: pd.DataFrame | None = None  # the control maps' rows beside the ScoreTable (no case reads them)

    def collected_by(self, claim_set: str):
        """What ``claim_set``'s own request computed; an error naming the claim set if it has none
        here or its request failed (then only that claim set's cases fail)."""
        found = self.collected.get(claim_set)
        if found is None:
            raise ValueError(f"claim set {claim_set}'s cases need the evidence its own request computes, "
                             "and the evidence has none")
        if isinstance(found, RequestFailed):
            raise ValueError(f"claim set {claim_set} could not collect its evidence: {found.reason}")
        return found

    @functools.cached_property
    def failed_rows(self) -> dict[str, str]:
        """``{model: why}`` for each model with ScoreTable rows whose task failed."""
        if self.scores is None:
            return {}
        failed = self.scores[self.scores["status"] == "error"]
        return {model: "; ".join(dict.fromkeys(notes)) for model, notes in failed.groupby("model")["note"]}

    def reading(self, models) -> Evidence:
        """This evidence for a case that reads ``models``: its ScoreTable unreadable (``ok``
        raises, naming the failed task) when a task of one of them failed."""
        failed = [f"{m}: {self.failed_rows[m]}" for m in models if m in self.failed_rows]
        if not failed:
            return self
        return replace(self, unreadable="it reads ScoreTable rows that could not be computed: "
                                        + "; ".join(failed))

    @functools.cached_property
    def ok(self) -> pd.DataFrame:
        if self.unreadable:
            raise ValueError(self.unreadable)
        if self.scores is None:
            if self.scores_failed:
                raise ValueError(f"this claim's ScoreTable could not be computed: {self.scores_failed}")
            raise ValueError("this claim needs a ScoreTable, and the evidence has none")
        return self.scores[self.scores["status"] == "ok"]

    def at_control_images(self) -> pd.DataFrame:
        """The ok rows of the (model, image) pairs the control maps were scored on (a table's first
        images: ``amx.evidence.with_controls``), where methods and controls meet."""
        controls = self.controls[self.controls["status"] == "ok"]
        scored = pd.MultiIndex.from_frame(controls[["model", "image"]])
        return self.ok[pd.MultiIndex.from_frame(self.ok[["model", "image"]]).isin(scored)]

    @functools.cached_property
    def specs(self) -> dict:
        """The world's zoo specs (what the cases' ``not_applicable`` checks), read once per evidence."""
        return {} if self.world is None else self.world.zoo.specs(self.world)

    def top1(self) -> pd.Series:
        if self.zoo is None:
            raise ValueError("this claim needs the regenerated Table 1, and the evidence has none")
        return pd.Series({r["model"]: r["top1"] for r in self.zoo})


@dataclass(frozen=True)
class Case:
    """One parametrised case of a claim: ``check(evidence) -> Verdict``. ``requires``: the training
    regimes the world's zoo must have, with weights found (``("vanilla", "pgd")`` for a
    robust/vanilla comparison), of ``architecture`` if set; ``min_models``: how many models it
    compares across. A world without them (the ``photos`` world's one CNN, an ImageNet run without
    some checkpoint) reports the case as not applicable instead of judging it.

    ``resample(evidence, draws) -> bool[B]``: whether the case holds on each of the bootstrap
    resamples ``draws`` (an ``amx.claims.stability.Draws``) of the evidence's images, the same
    statistic and rule as ``check``, vectorised over the resamples (None: the case cannot say how
    stable it is, and its verdict is treated as stable). ``needs(evidence)``: why the evidence of
    this run cannot judge the case beyond the zoo (a method its request's plan left out), or None."""

    claim: str
    name: str
    check: Callable[[Evidence], Verdict]
    requires: tuple[str, ...] = ()
    min_models: int = 1
    architecture: str | None = None
    resample: Callable[[Evidence, Any], np.ndarray] | None = None
    needs: Callable[[Evidence], str | None] | None = None

    @property
    def id(self) -> str:
        return f"{self.claim}[{self.name}]"

    def reads(self, evidence: Evidence, missing: bool = False) -> list[str]:
        """The models whose results the case reads: the zoo's models with weights found (and,
        with ``missing``, those without), of its ``architecture`` when set and of its required
        regimes when it names some (a changed model among them can explain a changed verdict)."""
        return [s.name for s in evidence.specs.values() if (missing or s.sha256 is not None)
                and self.architecture in (None, s.architecture)
                and (not self.requires or s.regime in self.requires)]

    def not_applicable(self, evidence: Evidence) -> str | None:
        """Why ``evidence``'s world cannot regenerate this case (None if it can): a regime it
        requires (of ``architecture``, when set) is not in the zoo, or its weights were not found."""
        world = evidence.world
        if world is None:
            return None
        specs = evidence.specs
        mine = [s for s in specs.values() if self.architecture in (None, s.architecture)]
        found = {s.regime for s in mine if s.sha256 is not None}
        missing = [r for r in self.requires if r not in found]
        absent = [f"{s.name} ({Path(s.weights).name})" for s in mine if s.regime in missing]
        if absent:
            return (f"needs {', '.join(absent)}, whose weights were not found "
                    f"(`amx zoo check --world {world.name}` lists where amx looks)")
        if missing:
            of = "" if self.architecture is None else f" of {self.architecture}"
            return (f"needs {', '.join(missing)} models{of}; the zoo of world {world.name!r} has "
                    f"{', '.join(sorted(found)) or 'none'}")
        available = sum(s.sha256 is not None for s in specs.values())
        if available < self.min_models:
            return (f"compares at least {self.min_models} models; world {world.name!r} has {available}")
        return None if self.needs is None else self.needs(evidence)


def verdict(case_id: str, rule: Threshold, statistic, message: str, paper_value=None, test=None,
            checked=None, on_p=None, **details) -> Verdict:
    """The ``Verdict`` of ``statistic`` under ``rule`` (``checked``: the value(s) the rule
    checks, when they are not the statistic itself, e.g. a p-value). ``test``: a
    ``amx.stats.TestResult`` whose p-value, CI, n and name the verdict carries. ``on_p(p)``: where
    the test's p-value decides the verdict, whether it passes at p (``--holm`` judges on
    Holm-adjusted p-values with it)."""
    extra = {} if test is None else {"p_value": test.p_value, "ci": (test.ci_low, test.ci_high),
                                     "n": test.n, "test": test.test}
    passed = rule.passes(statistic if checked is None else checked)
    return Verdict(case_id=case_id, passed=passed, statistic=float(statistic), threshold=str(rule),
                   paper_value=None if paper_value is None else float(paper_value), message=message,
                   details=details, rejudge=on_p, **extra)


# --- claim sets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimSet:
    """A paper's claims, registered in ``amx.claims.CLAIM_SETS`` under ``name``.

    ``prefix``: every claim id's prefix (``P``). ``source``: the document. ``cases()``: every case,
    in claim order. ``evidence``: the requests (``amx.evidence``) whose results the cases are
    checked on: at most one ScoreTable of all the images (``Scores``, read as ``evidence.scores``),
    Table 1 (``ZooTable``, read as ``evidence.zoo``) and at most one request of the claim set's own
    (SAM's sweeps; 001's ROAD table of the first images), read as ``evidence.collected_by(name)``.
    ``figure_data(evidence) -> dict`` (JSON-ready) and ``render_figures(data) -> [(title, PNG data
    URI)]`` give the paper's figures for the report
    (``amx report`` re-renders them from ``results.json``).
    """

    name: str
    prefix: str
    title: str
    source: str
    claims: tuple[Claim, ...]
    cases: Callable[[], list[Case]]
    evidence: tuple = ()
    figure_data: Callable[[Evidence], dict] | None = None
    render_figures: Callable[[dict], list[tuple[str, str]]] | None = None

    def __post_init__(self):
        from amx.evidence import Request, Scores, ZooTable

        for claim in self.claims:
            if not re.fullmatch(rf"{re.escape(self.prefix)}\d+", claim.id):
                raise ValueError(f"claim set {self.name!r}: claim id {claim.id!r} is not "
                                 f"{self.prefix}<number>")
        for request in self.evidence:
            if not isinstance(request, Request):
                raise ValueError(f"claim set {self.name!r}: evidence {request!r} is not an "
                                 "amx.evidence.Request")
        for kind, what in ((Scores, "ScoreTable (Scores) of all the images"),
                           (ZooTable, "Table 1 (ZooTable)")):
            if sum(isinstance(r, kind) and getattr(r, "first", None) is None for r in self.evidence) > 1:
                raise ValueError(f"claim set {self.name!r}: asks for more than one {what}")
        if len(self.own) > 1:
            raise ValueError(f"claim set {self.name!r}: its cases read one request of its own "
                             f"(evidence.collected_by), got {len(self.own)}: {self.own}")

    @property
    def scores(self):
        """The ``Scores`` request of all the session's images (None if the claim set reads no
        ScoreTable); one of the ``first`` images is a request of its own (``own``)."""
        from amx.evidence import Scores

        return next((r for r in self.evidence if isinstance(r, Scores) and r.first is None), None)

    @property
    def needs_scores(self) -> bool:
        return self.scores is not None

    @property
    def reads_zoo_table(self) -> bool:
        """Whether the claim set reads the zoo's evaluation (``ZooTable``: the paper's Table 1)."""
        from amx.evidence import ZooTable

        return any(isinstance(r, ZooTable) for r in self.evidence)

    @property
    def own(self) -> tuple:
        """The requests of the claim set's own (neither its ScoreTable nor ZooTable)."""
        from amx.evidence import ZooTable

        return tuple(r for r in self.evidence if not isinstance(r, ZooTable) and r is not self.scores)

    def claim(self, claim_id: str) -> Claim:
        return next(c for c in self.claims if c.id == claim_id)
