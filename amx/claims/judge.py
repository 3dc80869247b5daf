"""Judging claim cases: a verdict per case, how stable it is, and how it compares with a baseline.

``Judge`` is what a claims session concludes, case by case, without pytest (the plugin turns each
entry's ``outcome`` into a pass, failure, skip or expected failure; ``amx.session.Session.judge``
judges every case at once). Each case is checked once; with ``holm`` a case that a p-value decides
is judged on its Holm-adjusted p-value among the p-decided cases of its claim; every case is then
re-judged on the session's bootstrap resamples (``amx.claims.stability``).

Against a baseline (``amx.claims.baseline``), a verdict that flips where the case is stable in
both runs is ``flipped``. A flip where either run is borderline is a ``borderline flip``, unless
``strict``. A case that did not hold in the baseline and does not hold now is an ``expected
failure``. A case without a stability (another package's claim without ``resample``, a baseline
recorded before amx stored stabilities) counts as stable. A case whose check raises is an
``error``: recorded with its exception (the other cases are still judged), never a verdict.

Each entry lists the models the case ``reads`` (``amx.claims.spec.Case.reads``); a case that
flipped, or could not be judged, against a baseline names those among them whose fingerprints
changed since the baseline (``changed_models``): the model change that can explain it.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field, replace

from amx.claims.stability import Draws, Stability, StabilityConfig, stability

OUTCOMES = ("passed", "failed", "expected failure", "flipped", "borderline flip", "not applicable", "error")


class AmxStabilityWarning(UserWarning):
    """A case's resamples could not be judged: its verdict stands, without a stability."""


def _label(old: dict) -> str | None:
    """A baseline case's stability label (None: recorded without one)."""
    return (old.get("stability") or {}).get("label")


@dataclass
class Judge:
    """Judges the cases of ``claim_sets`` on evidence, against ``baseline`` cases (``{case id:
    {"passed", "statistic", "stability"}}``; empty: none). ``changed``: ``{model: what changed}``
    of the models whose fingerprints differ from the baseline's (``amx.claims.baseline.changed_models``).
    ``entries``: one JSON-ready record per case judged or found not applicable, in the order they
    were judged."""

    claim_sets: list
    seed: int = 0
    stability: StabilityConfig = field(default_factory=StabilityConfig)
    holm: bool = False
    strict: bool = False
    baseline: dict = field(default_factory=dict)
    changed: dict = field(default_factory=dict)
    entries: list = field(default_factory=list)
    verdicts: list = field(default_factory=list)
    seconds: float = 0.0  # spent on the resamples
    checked: dict = field(default_factory=dict)  # {case id: its Verdict}, each case checked once
    stability_errors: dict = field(default_factory=dict)  # {case id: why its resample failed}
    draws: Draws | None = None  # drawn on first use from ``seed``

    def case(self, case, evidence) -> dict:
        """``case`` judged on ``evidence``, or found not applicable on its world; its entry. An
        exception of its check is recorded as an ``error`` entry (``error``), then raised."""
        reason = case.not_applicable(evidence)
        if reason is not None:
            return self.not_applicable(case, reason, case.reads(evidence, missing=True))
        reads = case.reads(evidence)
        try:
            return self.judge(case, evidence.reading(reads), reads)
        except Exception as err:
            self.error(case, err, reads)
            raise

    def error(self, case, err: Exception, reads: list[str] = ()) -> dict:
        """Record that ``case`` (reading models ``reads``) could not be judged because of ``err``
        (no verdict: neither passed nor failed; a run with one does not succeed)."""
        reason = f"{type(err).__name__}: {err}"
        return self._unjudged(case, "error", reason, f"{case.id}: could not be judged: {reason}", reads)

    def not_applicable(self, case, reason: str, reads: list[str] = ()) -> dict:
        """Record ``case`` (of models ``reads``) as not applicable (a case the baseline judged says
        so: a model that went missing must not pass unnoticed)."""
        return self._unjudged(case, "not applicable", reason, f"{case.id}: {reason}", reads)

    def _unjudged(self, case, outcome: str, reason: str, message: str, reads: list[str] = ()) -> dict:
        """Record ``case`` without a verdict, with its ``outcome`` and ``reason``; the entry."""
        old = self.baseline.get(case.id)
        change = "" if old is None else (f"judged in the baseline ({'held' if old['passed'] else 'failed'}); "
                                         f"now {'an error' if outcome == 'error' else outcome}")
        changed = self.changed_of(reads) if old is not None else []
        entry = {"case_id": case.id, "claim": case.claim, "passed": None, "statistic": None,
                 "threshold": None, "paper_value": None, "message": message + self._naming(changed),
                 "reason": reason, "details": {}, "outcome": outcome, "baseline_change": change,
                 "baseline": old, "reads": list(reads), "changed_models": changed}
        self.entries.append(entry)
        return entry

    def check(self, case, evidence):
        """``case``'s verdict on ``evidence``, computed once."""
        if case.id not in self.checked:
            self.checked[case.id] = case.check(evidence)
        return self.checked[case.id]

    def on_holm(self, case, verdict, evidence):
        """``verdict`` judged on its Holm-adjusted p-value among the p-decided cases of its claim
        that the world can judge (a case whose check fails is left out of the family)."""
        from amx.claims import cases
        from amx.stats import holm

        family = {}
        for other in cases(self.claim_sets):
            if other.claim != case.claim or other.not_applicable(evidence) is not None:
                continue
            try:
                found = verdict if other.id == case.id else self.check(other, evidence)
            except Exception:  # a sibling that cannot be judged fails on its own, not here
                continue
            if found.rejudge is not None and found.p_value is not None:
                family[other.id] = found.p_value
        adjusted = dict(zip(family, holm(list(family.values())), strict=True))[case.id]
        return replace(verdict, passed=bool(verdict.rejudge(adjusted)),
                       message=f"{verdict.message} [--holm: judged on the Holm-adjusted p = {adjusted:.3g} "
                               f"among {len(family)} p-decided cases of {case.claim}]",
                       details={**verdict.details, "p_holm": adjusted})

    def changed_of(self, reads) -> list[str]:
        """The models among ``reads`` whose fingerprints changed since the baseline."""
        return [m for m in reads if m in self.changed]

    def _naming(self, changed: list[str]) -> str:
        named = "; ".join(f"{m} ({self.changed[m]})" for m in changed)
        return f" [changed since the baseline: {named}]" if changed else ""

    def judge(self, case, evidence, reads: list[str] = ()) -> dict:
        """Judge ``case`` on ``evidence`` (with ``holm``, on its adjusted p-value where a p-value
        decides it), re-judge it on the bootstrap resamples, compare it with the baseline."""
        verdict = self.check(case, evidence)
        if self.holm and verdict.rejudge is not None:
            verdict = self.on_holm(case, verdict, evidence)
        start = time.perf_counter()
        if self.draws is None:
            self.draws = Draws(self.stability.n_draws, self.seed)
        try:
            found = stability(case, evidence, self.draws, self.stability, verdict.passed)
        except Exception as err:  # the verdict stands; its stability is unknown, and said so
            found = None
            self.stability_errors[case.id] = f"{type(err).__name__}: {err}"
            warnings.warn(AmxStabilityWarning(f"{case.id}: its resamples could not be judged "
                                              f"({self.stability_errors[case.id]}); judged as stable"),
                          stacklevel=2)
        self.seconds += time.perf_counter() - start
        return self.record(verdict, found, reads)

    def record(self, verdict, stable: Stability | None = None, reads: list[str] = ()) -> dict:
        """Record ``verdict`` (with its ``stable``-ity, if known, and the models it ``reads``) and
        its outcome against the baseline; the entry."""
        self.verdicts.append(verdict)
        old = self.baseline.get(verdict.case_id)
        if old is None:
            change = "new case" if self.baseline else "no baseline"
            outcome = "passed" if verdict.passed else "failed"
        elif old["passed"] != verdict.passed:
            change = "flipped: held, now fails" if old["passed"] else "flipped: failed, now holds"
            outcome = "flipped"
            shares = [x["share"] for x in (old.get("stability"), stable and asdict(stable)) if x]
            if not self.strict and "borderline" in (_label(old), stable and stable.label):
                outcome, change = "borderline flip", change.replace("flipped", "borderline flip")
            if shares:
                change += " (holds in " + " -> ".join(f"{x:.0%}" for x in shares) + " of resamples)"
        else:
            was = old.get("statistic")
            change = "unchanged" + (f" (statistic was {was:.4g})" if was is not None else "")
            outcome = "passed" if verdict.passed else "expected failure"
        changed = self.changed_of(reads) if outcome in ("flipped", "borderline flip") else []
        entry = {**verdict.record(), "claim": verdict.claim, "outcome": outcome,
                 "baseline_change": change + self._naming(changed), "baseline": old,
                 "stability": None if stable is None else asdict(stable),
                 "stability_error": self.stability_errors.get(verdict.case_id), "reads": list(reads),
                 "changed_models": changed}
        self.entries.append(entry)
        return entry
