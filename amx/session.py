"""A claims session: a world's claims planned, computed, judged and reported, without pytest.

``Session(world, ...)`` gathers the evidence requests of the active claim sets
(``ClaimSet.evidence``, ``amx.evidence``), merges them (one ScoreTable per image subset), and

* ``plan()``: prices them, the passes an empty cache would cost per stage, each piece of content
  counted once however many requests ask for it (``amx.pipeline.plan.describe`` prints it);
* ``run()``: computes what the cache lacks, request by request; every computed stage lands in
  ``ledger`` (on an empty cache its passes are the plan's). A claim set's own request that fails
  fails only that claim set's cases (``RequestFailed``); a ScoreTable task that fails
  (``TaskFailed``) leaves its (model, method)'s rows as ``error`` rows naming it, and only the
  cases that read that model fail (``Evidence.reading``); what was computed stays in the store;
* ``judge(baseline=...)``: every case's verdict, stability and comparison with a baseline
  (``amx.claims.judge``);
* ``results(judge)``: everything the report shows (``amx.report``), written by ``write_report``.

The pytest plugin (``amx.plugin``) and the CLI (``amx run``, ``amx stability``) are adapters over it::

    from amx.session import Session
    session = Session(get_world("mini"), n_images=25)
    session.run()
    judge = session.judge(baseline="fixtures/baseline/mini.json")
    session.write_report(session.results(judge), "reports")
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

import amx
from amx.claims.judge import Judge
from amx.claims.spec import ClaimSet, Evidence, RequestFailed, claim_order
from amx.claims.stability import StabilityConfig
from amx.evidence import (
    CONTROL_IMAGES,
    Context,
    Request,
    Scores,
    ZooTable,
    control_methods,
    is_controls,
    merged,
    with_controls,
)
from amx.files import environment
from amx.pipeline.executor import Executor, InProcess, TaskFailed
from amx.pipeline.plan import PlannedStage


@dataclass
class Session:
    """A world's claims under one set of options. ``n_images``: images per architecture (None:
    the world's ``default_n_images``); ``cache``: the directory of every cache the session reads
    and fills (the store, the world's images, Table 1; None: ``$AMX_CACHE`` or ``.amx-cache``);
    ``preset``: the methods' and metrics' hyperparameters (``amx.presets``; None: the world's, e.g.
    ``smoke`` for a run of a few passes); ``claim_sets``: None: those active on the world
    (``amx.claims.active``); ``executor`` runs the tasks that compute maps
    (``amx.pipeline.executor``; None: ``InProcess``, in this process); ``controls``: every
    ScoreTable's control maps are scored on its first ``controls`` images per model
    (``amx.evidence.with_controls``; None: no controls), which the report shows beside the claim
    sets' methods on the same images and no case reads."""

    world: object
    n_images: int | None = None
    seed: int = 0
    device: str = "cpu"
    cache: str | None = None
    preset: str | None = None
    claim_sets: list[ClaimSet] | None = None
    stability: StabilityConfig = field(default_factory=StabilityConfig)
    holm: bool = False
    strict_verdicts: bool = False
    progress: bool = True
    executor: Executor | None = None
    results_of: dict = field(default_factory=dict)  # {request: its result, or RequestFailed}
    stage_seconds: dict = field(default_factory=dict)
    baseline_path: Path | None = None
    baseline_warnings: list[str] = field(default_factory=list)
    controls: int | None = CONTROL_IMAGES

    def __post_init__(self):
        from amx.bench import device_name
        from amx.claims import active

        if self.n_images is None:
            self.n_images = self.world.default_n_images
        if self.n_images <= 0:
            raise ValueError(f"n_images must be a positive integer, got {self.n_images}")
        if self.controls is not None and (isinstance(self.controls, bool) or self.controls < 1):
            raise ValueError(f"controls: the control maps' images per model, >= 1 (None: no controls), got "
                             f"{self.controls!r}")
        if self.claim_sets is None:
            self.claim_sets = active(self.world)
        self.device_name = device_name(self.device)
        if self.preset is not None:
            from amx.presets import PRESETS

            PRESETS.get(self.preset)  # an unknown name lists the valid ones
        self.context = Context(self.world, self.n_images, self.seed, self.device, self.cache, self.preset,
                               executor=self.executor or InProcess())

    @property
    def ledger(self) -> list:
        """Every stage the session computed (``amx.pipeline.run.Stage``)."""
        return self.context.ledger

    def requests(self, claim_sets: list[ClaimSet] | None = None) -> list[Request]:
        """The requests of ``claim_sets`` (None: the session's), merged (``amx.evidence.merged``), each
        ScoreTable followed by its control maps' table (``amx.evidence.with_controls``) unless
        ``controls`` is None."""
        found = merged([r for claim_set in (self.claim_sets if claim_sets is None else claim_sets)
                        for r in claim_set.evidence])
        if not self.controls:
            return found
        return merged([r for request in found for r in with_controls(request, self.controls)])

    def plan(self, claim_sets: list[ClaimSet] | None = None) -> list[PlannedStage]:
        """Every stage of the requests of ``claim_sets`` (None: the session's) on an empty cache,
        each piece of content (``work``) once (where two requests plan it on prefixes of one image
        list, the longer). The plan names image lists, not images (a CL set is known only from the
        models' predictions): where a random draw and a CL set share images, the run computes their
        shared maps once and the plan counts them in both. A world whose data or models are missing
        is an error naming what was looked for."""
        self.world.pool_size(self.n_images)  # the world's data first (a user's tree may be missing)
        out, index = [], {}
        for request in self.requests(claim_sets):
            with self._caches():
                stages = request.plan(self.context)
            for stage in stages:
                if not stage.work:
                    out.append(stage)
                elif stage.work not in index:
                    index[stage.work] = len(out)
                    out.append(stage)
                elif stage.images > out[index[stage.work]].images:
                    out[index[stage.work]] = stage
        return out

    def _caches(self):
        """Every cache under ``cache`` while a request plans or computes (``$AMX_CACHE``)."""
        return environment({"AMX_CACHE": str(Path(self.cache).expanduser())} if self.cache else {})

    def rates(self, stages: list[PlannedStage]) -> dict[str, tuple[float, float]]:
        """Seconds per image of a forward and a forward + backward pass of each model of ``stages``,
        from a short probe on the device (``amx.pipeline.plan.probe``)."""
        from amx.pipeline.plan import probe

        return probe(self.world, self.device, sorted({s.model for s in stages}))

    def run(self, claim_sets: list[ClaimSet] | None = None, log: Callable[[str], None] = print,
            planned: list[PlannedStage] | None = None) -> None:
        """Compute the evidence of ``claim_sets``' requests (None: the session's), what the cache
        lacks, in plan order, with one progress bar over the plan's passes (``planned``: their
        ``plan()``, when the caller has it already)."""
        planned = self.plan(claim_sets) if planned is None else planned
        total = sum(s.forwards + s.forward_backwards for s in planned)
        bar = tqdm(total=total, unit="pass", unit_scale=True, disable=not self.progress or not total,
                   desc="amx claims", dynamic_ncols=True)

        def advance(stage) -> None:
            bar.update(min(stage.forwards + stage.forward_backwards, bar.total - bar.n))
            bar.set_postfix_str(f"{stage.stage} {stage.model} {stage.method or stage.metric or ''}".strip())

        self.context.ledger.on_stage = advance
        try:
            for request in self.requests(claim_sets):
                name = _stage_name(request)
                bar.set_description(f"amx claims: {name}")
                start = time.perf_counter()
                try:
                    with self._caches():
                        self.results_of[request] = request.compute(self.context)
                    reads = "" if is_controls(request) else ", and the cases that read its model fail"
                    for failure in failed_tasks(self.results_of[request]):
                        log(f"amx: {failure}; its rows are errors{reads}")
                except (ValueError, KeyError, FileNotFoundError, TaskFailed) as err:
                    if isinstance(request, (Scores, ZooTable)) and not isinstance(err, TaskFailed):
                        raise
                    self.results_of[request] = RequestFailed(f"{type(err).__name__}: {err}")
                    log(f"amx: {name} failed, " + ("the report leaves the control maps out (no case reads "
                                                   "them)" if is_controls(request) else
                                                   "its claim set's cases fail with it") + f": {err}")
                self.stage_seconds[name] = round(time.perf_counter() - start, 1)
            if self.context.unreadable:
                log(f"amx: {len(self.context.unreadable)} image(s) of the pool did not decode and were left "
                    "out of the run:\n  " + "\n  ".join(self.context.unreadable.values()))
            bar.set_description("amx claims: done")
            bar.set_postfix_str(f"{bar.n:,.0f} of {total:,} planned passes computed, the rest from the cache "
                                "or not needed (a search that stops early is planned at its most)")
        finally:
            self.context.ledger.on_stage = None
            bar.close()

    def _covering(self, request: Request) -> Request | None:
        """The computed request that covers ``request`` (a merged ScoreTable covers each of its parts)."""
        for done in self.results_of:
            if done == request or (isinstance(done, Scores) and done.covers(request)):
                return done
        return None

    def result(self, request: Request):
        """What ``request`` (or the merged request that covers it) computed."""
        done = self._covering(request)
        if done is None:
            raise ValueError(f"{request!r} was not computed: call Session.run() first")
        return self.results_of[done]

    def evidence(self, claim_set: ClaimSet) -> Evidence:
        """What ``claim_set``'s cases are checked on: its ScoreTable (the rows of the methods it asked
        for), the control maps' rows scored beside it (``controls``), Table 1 and own request's
        result."""
        scores = None if claim_set.scores is None else self.result(claim_set.scores)
        failed = scores.reason if isinstance(scores, RequestFailed) else None
        scores = None if failed else scores
        zoo = self.result(ZooTable()) if claim_set.reads_zoo_table else None
        collected = {claim_set.name: self.result(claim_set.own[0])} if claim_set.own else {}
        table = controls = None
        if scores is not None:
            table, controls = apart(scores.table, claim_set.scores.methods)
            if self.controls:
                controls = self._controls_beside(claim_set.scores)
        return Evidence(scores=table, zoo=zoo, run=scores, world=self.world, collected=collected,
                        scores_failed=failed, controls=controls)

    def _controls_beside(self, request: Scores) -> pd.DataFrame | None:
        """The control maps' rows of the table scored beside ``request`` (``with_controls``); None
        where no control map is registered or their table failed."""
        beside = with_controls(request, self.controls)[1:]
        found = self.result(beside[0]) if beside else None
        if found is None or isinstance(found, RequestFailed):
            return None
        return apart(found.table, request.methods)[1]

    def close(self) -> None:
        """Free what the session's executor started (a Ray cluster it started is shut down)."""
        self.context.executor.close()

    def computed(self, claim_set: ClaimSet) -> bool:
        """Whether every request of ``claim_set`` was computed (``run``)."""
        return all(self._covering(r) is not None for r in claim_set.evidence)

    def evidences(self) -> dict[str, Evidence]:
        """The evidence of each claim set whose requests were computed."""
        return {cs.name: self.evidence(cs) for cs in self.claim_sets if self.computed(cs)}

    def judge(self, baseline: str | Path | None = None) -> Judge:
        """Every case of the active claim sets judged (against ``baseline``, a baseline file); a
        case whose check raises is an ``error`` entry, and the others are judged."""
        from amx.claims import baseline as baselines

        found = None
        if baseline is not None:
            self.baseline_path = Path(baseline)
            found, self.baseline_warnings = baselines.load(self.baseline_path, self.record())
        judge = self.judge_for(found)
        for claim_set in self.claim_sets:
            evidence = self.evidence(claim_set)
            for case in sorted(claim_set.cases(), key=lambda c: claim_order(c.claim)):
                try:
                    judge.case(case, evidence)
                except Exception:  # recorded as the case's "error" entry; the other cases go on
                    continue
        return judge

    def judge_for(self, baseline: dict | None) -> Judge:
        """An empty ``Judge`` with the session's seed, stability and ``holm`` settings, against
        ``baseline`` (``amx.claims.baseline.load``; None: none)."""
        from amx.claims.baseline import changed_models

        baseline = baseline or {}
        return Judge(self.claim_sets, self.seed, self.stability, self.holm, self.strict_verdicts,
                     baseline.get("cases", {}),
                     changed_models(baseline.get("models"), self.record()["models"]) if baseline else {})

    def record(self) -> dict:
        """What a baseline records besides its verdicts."""
        return {"world": self.world.name, "world_version": self.world.version, "n_images": self.n_images,
                "seed": self.seed, "preset": self.context.preset_name, "device": self.device,
                "device_name": self.device_name,
                "amx_version": amx.__version__, "holm": self.holm,
                "stability": {"resamples": self.stability.n_draws, "stable_share": self.stability.high},
                "models": {name: spec.fingerprint for name, spec in self.context.specs.items()
                           if spec.fingerprint is not None}}

    def results(self, judge: Judge) -> dict:
        """What the report shows (``build_results``) of ``judge``'s entries, with the run's
        provenance and the sample sizes each verdict needs."""
        self.stage_seconds["stability"] = round(judge.seconds, 2)
        evidences = self.evidences()
        sizes = self._sample_sizes(judge, evidences)
        start = time.perf_counter()
        results = build_results(judge.entries, self.claim_sets, evidences, self.provenance())
        results["sample_sizes"] = sizes
        results["seed_stability"] = None
        results["provenance"]["baseline"].update(compared=bool(judge.baseline), changed_models=judge.changed)
        results["provenance"]["stage_seconds"]["report"] = round(time.perf_counter() - start, 1)
        return results

    @staticmethod
    def write_report(results: dict, report_dir: str | Path) -> tuple[Path, Path]:
        """``results.json`` and ``claims.html`` in ``report_dir``."""
        from amx.claims import renderers
        from amx.report import write_html, write_results

        report_dir = Path(report_dir)
        return (write_results(results, report_dir / "results.json"),
                write_html(results, report_dir / "claims.html", renderers()))

    def _sample_sizes(self, judge: Judge, evidences: dict) -> dict | None:
        """``amx.claims.stability.sample_sizes`` for the judged cases of the claim sets whose images
        follow ``n_images`` (those that read a ScoreTable and request nothing of their own)."""
        from amx.claims.stability import sample_sizes

        start = time.perf_counter()
        scaled = {c.id: (c, cs.name) for cs in self.claim_sets if cs.needs_scores and not cs.own
                  for c in cs.cases()}
        judged = [(scaled[e["case_id"]], e["passed"], e["stability"]["share"]) for e in judge.entries
                  if e["case_id"] in scaled and e.get("stability") and e["outcome"] != "not applicable"
                  and not e.get("details", {}).get("p_holm")]  # under --holm the share is of another rule
        if not judged:
            return None
        by_set: dict[str, list] = {}
        for (case, name), passed, share in judged:
            by_set.setdefault(name, []).append((case, passed, share))
        found = None
        for name, cases in by_set.items():
            part = sample_sizes(cases, evidences[name], self.n_images, self.seed, self.stability)
            found = part if found is None else {**found, "cases": {**found["cases"], **part["cases"]}}
        self.stage_seconds["sample sizes"] = round(time.perf_counter() - start, 2)
        return found

    def provenance(self) -> dict:
        """Where and how the session ran (``amx.report.results.provenance``), with every computed
        stage, the ScoreTable's configuration and efficiency, the stability and baseline settings."""
        from amx.report.results import provenance

        fingerprints = {name: spec.fingerprint for name, spec in self.context.specs.items()}
        tables = [r for q, r in self.results_of.items()
                  if isinstance(q, Scores) and not isinstance(r, RequestFailed)]
        stages = [asdict(x) for x in self.ledger]
        passes = {"forwards": sum(x["forwards"] for x in stages),
                  "forward_backwards": sum(x["forward_backwards"] for x in stages),
                  "compute_seconds": round(sum(x["seconds"] for x in stages), 1), "stages": stages}
        run_config = None
        if tables:
            passes.update(**tables[0].efficiency, throughput_s_per_image=tables[0].throughput)
            run_config = {**asdict(tables[0].config), "metric_configs": tables[0].metric_configs}
        prov = provenance(self.world, self.device, self.device_name, self.seed, self.n_images, run_config,
                          fingerprints, dict(self.stage_seconds), passes)
        prov["unreadable_images"] = [why for _, why in sorted(self.context.unreadable.items())]
        prov["stability"] = asdict(self.stability)
        prov["baseline"] = {"path": str(self.baseline_path) if self.baseline_path else None,
                            "warnings": self.baseline_warnings}
        return prov


def failed_tasks(result) -> list[str]:
    """The failed tasks a ScoreTable's ``error`` rows name (none for another request's result)."""
    table = getattr(result, "table", None)
    if table is None or "status" not in table:
        return []
    return list(dict.fromkeys(table.loc[table["status"] == "error", "note"]))


def _stage_name(request: Request) -> str:
    if is_controls(request):
        return f"controls ({request.subset}, first {request.first} images)"
    if isinstance(request, Scores):
        return f"scores ({request.subset}{f', first {request.first} images' if request.first else ''})"
    if isinstance(request, ZooTable):
        return "table1"
    return type(request).__name__


def catalogue(claim_set: ClaimSet) -> dict:
    """A claim set as data: its name, prefix, title, source and claims."""
    return {"name": claim_set.name, "prefix": claim_set.prefix, "title": claim_set.title,
            "source": claim_set.source,
            "claims": {c.id: asdict(c) for c in sorted(claim_set.claims, key=lambda c: claim_order(c.id))}}


def _has_evidence(claim_set: ClaimSet, evidence: Evidence) -> bool:
    """Whether ``evidence`` has what ``claim_set``'s figures read: its ScoreTable where it has one
    (001's figures draw its table of the first images where there is one), else its own request's
    result."""
    if claim_set.needs_scores:
        return evidence.scores is not None
    try:
        if claim_set.own:
            evidence.collected_by(claim_set.name)
    except ValueError:
        return False
    return True


def apart(table: pd.DataFrame, methods) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(rows of methods, rows of the control maps not among them)`` of a ScoreTable."""
    asked = table["method"].isin(methods)
    control = ~asked & table["method"].isin(control_methods())
    return table[asked].reset_index(drop=True), table[control].reset_index(drop=True)


def _against_controls(claim_set: ClaimSet, evidence: Evidence) -> dict:
    """``{name: amx.report.results.against_controls}`` of the claim set's ScoreTable and of a table
    of its own of the first images (001's ROAD table)."""
    from amx.report.results import against_controls

    out = {}
    if claim_set.scores is not None and evidence.controls is not None and len(evidence.controls):
        out[claim_set.name] = against_controls(evidence, claim_set.scores.metrics)
    own = claim_set.own[0] if claim_set.own else None  # a claim set has at most one
    found = evidence.collected.get(claim_set.name)
    if isinstance(own, Scores) and found is not None and not isinstance(found, RequestFailed):
        table, controls = apart(found.table, own.methods)
        if len(controls):
            out[f"{claim_set.name} (its table of the first {own.first} images per model)"] = \
                against_controls(Evidence(scores=table, controls=controls), own.metrics)
    return out


def build_results(entries: list[dict], claim_sets: list[ClaimSet], evidences: dict[str, Evidence],
                  prov: dict) -> dict:
    """``results.json``'s content: ``entries`` of the judged cases of ``claim_sets``, each claim
    set's figures from its evidence (``evidences``: ``{claim set: Evidence}``), Table 1, ``prov``."""
    from amx.report.results import SCHEMA_VERSION, holm_within_claims, summarise

    holm_within_claims(entries)
    catalogues = [catalogue(cs) for cs in claim_sets]
    figures = {cs.name: cs.figure_data(evidences[cs.name]) for cs in claim_sets if cs.figure_data is not None
               and cs.name in evidences and _has_evidence(cs, evidences[cs.name])}
    controls = {name: found for cs in claim_sets if cs.name in evidences
                for name, found in _against_controls(cs, evidences[cs.name]).items()}
    zoo = next((e.zoo for e in evidences.values() if e.zoo is not None), None)
    return {"schema": SCHEMA_VERSION, "provenance": prov, "claim_sets": catalogues,
            "summary": summarise(entries, catalogues), "cases": entries,
            "zoo_table": [{k: v for k, v in row.items() if k != "per_image"} for row in zoo or []],
            "figures": figures, "controls": controls}
