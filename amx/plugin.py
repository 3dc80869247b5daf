"""The amx pytest plugin (entry point ``pytest11: amx``): options, markers, session fixtures,
the claim cases of every registered claim set, judging against a baseline, and the report written
at the end of every claims session.

A thin layer over one ``AmxSession`` kept in ``config.stash``. Options (group "amx"):

* ``--gpu``: run models on CUDA; a usage error if torch sees no CUDA device;
* ``--world NAME``: the world to regenerate claims on (default: the embedded world);
* ``--n-images N``: images per architecture the claims use (default: the world's
  ``default_n_images``, 100 on the embedded world);
* a world's own settings (``World.options``), e.g. ``--imagenet-root DIR``, which set the
  environment variables the world reads;
* ``--seed S``: draws the image subsets and seeds stochastic methods (default 0);
* ``--cache-dir DIR`` (default ``.amx-cache`` or ``$AMX_CACHE``), ``--report-dir DIR`` (default
  ``reports``);
* ``--baseline PATH``: compare every claim case's verdict with a stored one; ``--update-baseline``
  writes this session's verdicts to PATH instead;
* ``--resamples B`` (default 200) and ``--stable-share S`` (default 0.95): every case is re-judged
  on B bootstrap resamples of its images (``amx.claims.stability``); its verdict is *stable* when
  it holds in >= S or <= 1 - S of them, else *borderline*;
* ``--strict-verdicts``: a borderline flip fails like any other (see below);
* ``--holm``: judge the cases a p-value decides on their Holm-adjusted p-values within their
  claim (the report shows the adjusted p-values either way; stability stays that of the
  unadjusted verdict).

Against a baseline, a verdict that flips where the case is stable in both runs fails the test. A
flip where either run is borderline is a *borderline flip*: listed in the terminal summary and
the report, not a failure (the test passes if the case holds now, else it is an expected
failure), unless ``--strict-verdicts`` is given. A case without a stability (another package's
claim without ``resample``, a baseline recorded before amx stored stabilities) counts as stable.

A baseline records the world, its version, n_images, seed, device and amx version. One recorded
on another world or world version is a usage error (its verdicts are about other data); one
recorded with another n_images, seed, device or amx version is compared all the same, with an
``AmxBaselineWarning`` naming each difference (in the warnings summary and the report).

The ``claims`` marker tags tests that regenerate a paper claim; the test suite's ``addopts``
deselects them (``-m "not claims"``) and ``pytest evals -m claims`` selects them. A test that
takes the ``claim_case`` argument (``amx.claims.suite.test_claim``) is parametrised over the
cases of every claim set active on the world (``amx.claims.active``).
"""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pytest

import amx
from amx.claims.stability import Draws, Stability, StabilityConfig, stability
from amx.data.worlds import DEFAULT_WORLD, World, get_world, world_options
from amx.files import environment, write_atomic


class AmxBaselineWarning(UserWarning):
    """The baseline was recorded with another n_images, seed, device, amx version, ``--holm`` or
    resampling setting."""


class AmxStabilityWarning(UserWarning):
    """A case's resamples could not be judged: its verdict stands, without a stability."""


@dataclass
class AmxSession:
    """What one pytest session regenerates on, and what its claim cases concluded."""

    world: World
    device: str
    device_name: str
    n_images: int
    seed: int = 0
    claim_sets: list = field(default_factory=list)
    cache_dir: str | None = None
    report_dir: Path = Path("reports")
    baseline_path: Path | None = None
    update_baseline: bool = False
    baseline: dict = field(default_factory=dict)
    baseline_warnings: list[str] = field(default_factory=list)
    verdicts: list = field(default_factory=list)
    entries: list = field(default_factory=list)
    run: object = None  # the RunResult of the session's ScoreTable
    zoo: list | None = None
    stage_seconds: dict = field(default_factory=dict)
    summary_line: str = ""
    plan: list = field(default_factory=list)  # the ScoreTable's stages (amx.pipeline.plan)
    collected: dict = field(default_factory=dict)  # {claim set: what its ``collect`` computed}
    stability: StabilityConfig = field(default_factory=StabilityConfig)
    strict_verdicts: bool = False
    holm: bool = False
    checked: dict = field(default_factory=dict)  # {case id: its Verdict}, each case checked once
    stability_errors: dict = field(default_factory=dict)  # {case id: why its resample failed}
    draws: Draws | None = None  # the bootstrap resamples, drawn on first use from ``seed``

    def run_config(self):
        """The ScoreTable the active claim sets need (None if none needs one)."""
        from amx.claims import scores_needed
        from amx.pipeline import RunConfig

        needed = scores_needed(self.claim_sets)
        if needed is None:
            return None
        methods, metrics, subset = needed
        return RunConfig(world=self.world.name, models=self.available_models(subset), methods=methods,
                         metrics=metrics, subset=subset, n_images=self.n_images, seed=self.seed,
                         device=self.device)

    def available_models(self, subset: str) -> tuple[str, ...]:
        """The zoo's models a run can score (``amx.pipeline.run.runnable_models``): a world whose
        files the user supplies may lack some, and the cases that need them are not applicable."""
        from amx.pipeline.run import runnable_models

        specs = self.world.zoo.specs(self.world)
        found = tuple(runnable_models(specs, subset))
        if not found:
            raise ValueError(f"none of the {len(specs)} models of world {self.world.name!r} was found (with "
                             f"the twin its {subset} subset needs); `amx zoo check --world "
                             f"{self.world.name}` lists the files it looks for")
        return found

    def record(self) -> dict:
        """What a baseline records besides its verdicts."""
        return {"world": self.world.name, "world_version": self.world.version, "n_images": self.n_images,
                "seed": self.seed, "device": self.device, "device_name": self.device_name,
                "amx_version": amx.__version__, "holm": self.holm,
                "stability": {"resamples": self.stability.n_draws, "stable_share": self.stability.high}}

    def not_applicable(self, case, reason: str) -> None:
        """Record ``case`` as not applicable on this world and skip its test with ``reason`` (a case
        the baseline judged says so: a model that went missing must not pass unnoticed)."""
        old = None if self.update_baseline else self.baseline.get(case.id)
        change = "" if old is None else (f"judged in the baseline ({'held' if old['passed'] else 'failed'}); "
                                         "now not applicable")
        self.entries.append({"case_id": case.id, "claim": case.claim, "passed": None, "statistic": None,
                             "threshold": None, "paper_value": None, "message": f"{case.id}: {reason}",
                             "details": {}, "outcome": "not applicable", "baseline_change": change,
                             "baseline": old})
        pytest.skip(f"not applicable: {reason}" + (f" ({change})" if change else ""))

    def check(self, case, evidence):
        """``case``'s verdict on ``evidence``, computed once per session."""
        if case.id not in self.checked:
            self.checked[case.id] = case.check(evidence)
        return self.checked[case.id]

    def on_holm(self, case, verdict, evidence):
        """``verdict`` judged on its Holm-adjusted p-value among the p-decided cases of its claim
        that this world can judge (a case whose check fails is left out of the family)."""
        from amx.claims import cases
        from amx.stats import holm

        family = {}
        for other in cases(self.claim_sets):
            if other.claim != case.claim or other.not_applicable(evidence) is not None:
                continue
            try:
                found = verdict if other.id == case.id else self.check(other, evidence)
            except Exception:  # a sibling that cannot be judged errors its own test, not this one
                continue
            if found.rejudge is not None and found.p_value is not None:
                family[other.id] = found.p_value
        adjusted = dict(zip(family, holm(list(family.values())), strict=True))[case.id]
        return replace(verdict, passed=bool(verdict.rejudge(adjusted)),
                       message=f"{verdict.message} [--holm: judged on the Holm-adjusted p = {adjusted:.3g} "
                               f"among {len(family)} p-decided cases of {case.claim}]",
                       details={**verdict.details, "p_holm": adjusted})

    def judge_case(self, case, evidence) -> None:
        """Judge ``case`` on ``evidence`` (with ``--holm`` on its adjusted p-value, where a p-value
        decides it) and re-judge it on the session's bootstrap resamples."""
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
        spent = self.stage_seconds.get("stability", 0.0) + time.perf_counter() - start
        self.stage_seconds["stability"] = round(spent, 2)
        self.judge(verdict, found)

    def judge(self, verdict, stable: Stability | None = None) -> None:
        """Record ``verdict`` (with its ``stable``-ity, if known) and end the test by it: pass,
        fail, a flip against the baseline (fails, showing the old and new statistic), a
        borderline flip (see the module), or an expected failure (it did not hold in the baseline
        either)."""
        self.verdicts.append(verdict)
        old = None if self.update_baseline else self.baseline.get(verdict.case_id)
        if old is None:
            change = "new case" if self.baseline else "no baseline"
            outcome = "passed" if verdict.passed else "failed"
        elif old["passed"] != verdict.passed:
            change = ("flipped: held, now fails" if old["passed"] else "flipped: failed, now holds")
            outcome = "flipped"
            shares = [x["share"] for x in (old.get("stability"), stable and asdict(stable)) if x]
            if not self.strict_verdicts and "borderline" in (_label(old), stable and stable.label):
                outcome, change = "borderline flip", change.replace("flipped", "borderline flip")
            if shares:
                change += " (holds in " + " -> ".join(f"{x:.0%}" for x in shares) + " of resamples)"
        else:
            was = old.get("statistic")
            change = "unchanged" + (f" (statistic was {was:.4g})" if was is not None else "")
            outcome = "passed" if verdict.passed else "expected failure"
        entry = {**verdict.record(), "claim": verdict.claim, "outcome": outcome, "baseline_change": change,
                 "baseline": old, "stability": None if stable is None else asdict(stable),
                 "stability_error": self.stability_errors.get(verdict.case_id)}
        self.entries.append(entry)
        if outcome == "borderline flip" and not verdict.passed:
            pytest.xfail(f"borderline flip against the baseline {self.baseline_path} ({change}), not a "
                         f"failure without --strict-verdicts: {verdict.message}")
        if outcome == "flipped":
            pytest.fail(f"{verdict.case_id}: verdict flipped against the baseline {self.baseline_path} "
                        f"({change}): statistic {old.get('statistic')} -> {verdict.statistic:.4g}\n"
                        f"{verdict.message}", pytrace=False)
        if outcome == "expected failure":
            pytest.xfail(f"did not hold in the baseline either: {verdict.message}")
        if not verdict.passed:
            pytest.fail(verdict.message, pytrace=False)


def _label(old: dict) -> str | None:
    """A baseline case's stability label (None: recorded without one)."""
    return (old.get("stability") or {}).get("label")


session_key = pytest.StashKey[AmxSession]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("amx", "amx: regenerate explainability claims")
    group.addoption("--gpu", action="store_true", default=False,
                    help="run models on CUDA (fails if no CUDA device is available). Default: CPU.")
    group.addoption("--world", default=DEFAULT_WORLD, metavar="NAME",
                    help=f"world to evaluate on (registered worlds; default: {DEFAULT_WORLD}).")
    group.addoption("--n-images", type=int, default=None, metavar="N",
                    help="CL images per architecture the claims use (default: the world's "
                         "default_n_images; 100 on the embedded world, the paper's 2,000 on imagenet).")
    group.addoption("--seed", type=int, default=0, metavar="S",
                    help="seed of the image subsets and of stochastic methods (default: 0).")
    group.addoption("--cache-dir", default=None, metavar="DIR",
                    help="content-addressed cache of maps and scores (default: $AMX_CACHE or .amx-cache).")
    group.addoption("--report-dir", default="reports", metavar="DIR",
                    help="where claims.html and results.json are written (default: reports).")
    for option in world_options():
        group.addoption(f"--{option.name}", dest=option.dest, default=None, metavar="DIR",
                        help=f"{option.help} (sets ${option.env}).")
    group.addoption("--baseline", default=None, metavar="PATH",
                    help="compare each claim case's verdict with this baseline JSON; a flip fails.")
    group.addoption("--update-baseline", action="store_true", default=False,
                    help="write this session's verdicts to the --baseline PATH.")
    group.addoption("--resamples", type=int, default=StabilityConfig.n_draws, metavar="B",
                    help="bootstrap resamples of the images each case is re-judged on to label its verdict "
                         f"stable or borderline (default: {StabilityConfig.n_draws}).")
    group.addoption("--stable-share", type=float, default=StabilityConfig.high, metavar="S",
                    help="a verdict is stable when its case holds in >= S or <= 1 - S of the resamples "
                         f"(default: {StabilityConfig.high}).")
    group.addoption("--holm", action="store_true", default=False,
                    help="judge the cases a p-value decides on their Holm-adjusted p-values within each "
                         "claim (default: the paper's unadjusted thresholds; the report shows both).")
    group.addoption("--strict-verdicts", action="store_true", default=False,
                    help="fail on a verdict that flips against the baseline also where the case is "
                         "borderline (default: a borderline flip is reported, not a failure).")


def _load_baseline(path: Path, session: AmxSession) -> tuple[dict, list[str]]:
    """The baseline's cases, and a warning per recorded setting that differs from this session's."""
    if not path.is_file():
        raise pytest.UsageError(f"--baseline: no file {path}; create it with --update-baseline")
    try:
        data = json.loads(path.read_text())
        cases = data["cases"]
    except (ValueError, KeyError) as err:
        raise pytest.UsageError(f"--baseline: {path} is not an amx baseline ({err})") from None
    mine = session.record()
    for key in ("world", "world_version"):
        if data.get(key) != mine[key]:
            raise pytest.UsageError(f"--baseline: {path} was recorded with {key} {data.get(key)!r}, this "
                                    f"session runs with {mine[key]!r}; its verdicts are about other data")
    warnings = [f"--baseline {path} was recorded with {key} {data.get(key)!r}, this session has {mine[key]!r}"
                for key in ("n_images", "seed", "device", "device_name", "amx_version", "holm", "stability")
                if data.get(key) != mine[key]]
    return cases, warnings


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "claims: regenerates a paper claim on the world's zoo (select with -m claims)")
    from amx.bench import device_name
    from amx.claims import active
    from amx.pipeline.plan import plan

    # The world reads its options from the environment; --cache-dir covers every cache of the
    # session (world splits, Table 1, the store). Both are restored when the session ends.
    settings = {option.env: str(Path(config.getoption(option.dest)).expanduser())
                for option in world_options() if config.getoption(option.dest) is not None}
    if config.getoption("--cache-dir"):
        settings["AMX_CACHE"] = str(Path(config.getoption("--cache-dir")).expanduser())
    scope = contextlib.ExitStack()
    scope.enter_context(environment(settings))
    config.add_cleanup(scope.close)
    try:
        world = get_world(config.getoption("--world"))
    except KeyError as err:
        raise pytest.UsageError(f"--world: {err}") from None
    n_images = config.getoption("--n-images")
    n_images = world.default_n_images if n_images is None else n_images
    if n_images <= 0:
        raise pytest.UsageError(f"--n-images must be a positive integer, got {n_images}")
    device = "cpu"
    if config.getoption("--gpu"):
        import torch

        if not torch.cuda.is_available():
            raise pytest.UsageError(
                f"--gpu was given but torch {torch.__version__} sees no CUDA device "
                f"(torch.cuda.is_available() is False); drop --gpu to run on the CPU.")
        device = "cuda"
    baseline_path = config.getoption("--baseline")
    update = config.getoption("--update-baseline")
    if update and not baseline_path:
        raise pytest.UsageError("--update-baseline needs --baseline PATH (where to write it)")
    share = config.getoption("--stable-share")
    try:
        stable = StabilityConfig(n_draws=config.getoption("--resamples"), high=share, low=1.0 - share)
    except ValueError as err:
        raise pytest.UsageError(f"--resamples / --stable-share: {err} (--stable-share must be in (0.5, 1])"
                                ) from None
    session = AmxSession(
        world=world, device=device, device_name=device_name(device), n_images=n_images,
        seed=config.getoption("--seed"), claim_sets=active(world), cache_dir=config.getoption("--cache-dir"),
        report_dir=Path(config.getoption("--report-dir")),
        baseline_path=Path(baseline_path) if baseline_path else None, update_baseline=update,
        stability=stable, strict_verdicts=config.getoption("--strict-verdicts"),
        holm=config.getoption("--holm"))
    try:  # the ScoreTable the claim sets need (unknown methods or metrics, clashing subsets), and
        # its plan, which reads the world's data (a missing or unreadable data set fails here)
        world.pool_size(n_images)  # the world's data first (a user's tree may be missing), then its models
        run_config = session.run_config()
        session.plan = [] if run_config is None else plan(run_config)
    except (KeyError, ValueError) as err:
        names = [c.name for c in session.claim_sets]
        raise pytest.UsageError(f"--world {world.name}: claim sets {names} cannot be run: {err}") from None
    if session.baseline_path and not update:
        session.baseline, session.baseline_warnings = _load_baseline(session.baseline_path, session)
        for warning in session.baseline_warnings:
            config.issue_config_time_warning(AmxBaselineWarning(warning), stacklevel=2)
    config.stash[session_key] = session


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``claim_case`` over the cases of the world's active claim sets."""
    if "claim_case" in metafunc.fixturenames:
        from amx.claims import cases

        found = cases(metafunc.config.stash[session_key].claim_sets)
        metafunc.parametrize("claim_case", found, ids=[c.id for c in found])


def pytest_report_header(config: pytest.Config) -> list[str]:
    s = config.stash[session_key]
    lines = [f"amx: world={s.world.name} device={s.device} n_images={s.n_images} seed={s.seed} "
             f"claim sets={','.join(c.name for c in s.claim_sets)}"
             + (f" baseline={s.baseline_path}" if s.baseline_path else "")]
    if s.plan:
        stages = s.plan
        lines.append(f"amx: the claims' ScoreTable costs {sum(x.forwards for x in stages):,} forwards and "
                     f"{sum(x.forward_backwards for x in stages):,} forward+backward passes on an empty "
                     "cache (the time at a throughput probe is printed before the run)")
    return lines


@pytest.fixture(scope="session")
def amx_session(pytestconfig: pytest.Config) -> AmxSession:
    """The session's world, device, image budget, baseline and judged verdicts."""
    return pytestconfig.stash[session_key]


@pytest.fixture(scope="session")
def zoo_table(amx_session: AmxSession) -> list[dict]:
    """The regenerated Table 1 of the session's world (cached on disk by content)."""
    from amx.zoo.evaluate import evaluate_zoo

    start = time.perf_counter()
    amx_session.zoo = evaluate_zoo(amx_session.world, n_images=amx_session.world.table1_images,
                                   device=amx_session.device, log=lambda msg: None)
    amx_session.stage_seconds["table1"] = round(time.perf_counter() - start, 1)
    return amx_session.zoo


@pytest.fixture(scope="session")
def score_run(amx_session: AmxSession, pytestconfig: pytest.Config):
    """The ``RunResult`` of the ScoreTable the active claim sets need (None if none needs one),
    from the cache where it can; tqdm bars show progress (pytest's capture is lifted for them)."""
    from amx.pipeline import run
    from amx.pipeline.plan import describe, probe

    config = amx_session.run_config()
    if config is None:
        return None
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    start = time.perf_counter()
    with capture.global_and_fixture_disabled():
        stages = amx_session.plan
        print(f"\namx: the run's passes and, at a throughput probe on {amx_session.device_name}, their "
              f"time (cached maps and scores are not recomputed)\n"
              + describe(stages, probe(config, sorted({s.model for s in stages}))), flush=True)
        amx_session.run = run(config, cache=amx_session.cache_dir)
    amx_session.stage_seconds["pipeline"] = round(time.perf_counter() - start, 1)
    return amx_session.run


@pytest.fixture(scope="session")
def collected(amx_session: AmxSession, score_run, pytestconfig: pytest.Config) -> dict:
    """What the active claim sets compute themselves (``ClaimSet.collect``), from the cache where
    it can, with progress shown. A claim set whose collection fails is recorded as failed
    (``CollectFailed``): its cases fail with the reason, other claim sets' cases are judged."""
    from amx.claims.spec import CollectFailed, CollectRequest

    request = CollectRequest(world=amx_session.world, n_images=amx_session.n_images, seed=amx_session.seed,
                             device=amx_session.device, cache=amx_session.cache_dir, run=score_run)
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    for claim_set in amx_session.claim_sets:
        if claim_set.collect is None:
            continue
        start = time.perf_counter()
        with capture.global_and_fixture_disabled():
            try:
                amx_session.collected[claim_set.name] = claim_set.collect(request)
            except (ValueError, KeyError, FileNotFoundError) as err:
                amx_session.collected[claim_set.name] = CollectFailed(f"{type(err).__name__}: {err}")
        amx_session.stage_seconds[f"collect {claim_set.name}"] = round(time.perf_counter() - start, 1)
    return amx_session.collected


@pytest.fixture(scope="session")
def claim_evidence(amx_session: AmxSession, score_run, collected, request):
    """What the active claim sets are checked on: the ScoreTable (with the run and world behind
    it), what claim sets collected themselves and, where one needs it, Table 1."""
    from amx.claims.spec import Evidence

    zoo = request.getfixturevalue("zoo_table") if any(c.table1 for c in amx_session.claim_sets) else None
    return Evidence(scores=None if score_run is None else score_run.table, zoo=zoo, run=score_run,
                    world=amx_session.world, collected=collected)


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    """After a session that judged claims (passing or not): the report, and the baseline on request."""
    s = session.config.stash.get(session_key, None)
    if s is None or not s.entries:
        return
    from amx.claims import seeds
    from amx.claims.spec import Evidence
    from amx.report import build_results, write_html, write_results

    evidence = Evidence(scores=None if s.run is None else s.run.table, zoo=s.zoo, run=s.run, world=s.world,
                        collected=s.collected)
    sizes = _sample_sizes(s, evidence)
    start = time.perf_counter()
    results = build_results(s.entries, s.claim_sets, evidence, _provenance(s))
    results["sample_sizes"] = sizes
    results["seed_stability"] = seeds.load_matching(s.report_dir, s.world.name, s.n_images)
    results["provenance"]["stage_seconds"]["report"] = round(time.perf_counter() - start, 1)
    json_path = write_results(results, s.report_dir / "results.json")
    html_path = write_html(results, s.report_dir / "claims.html")
    if s.update_baseline:
        _write_baseline(s)
    judged = [x for x in results["summary"] if x["holds"] is not None]
    s.summary_line = (f"amx: {sum(x['holds'] for x in judged)} of {len(judged)} claims hold; "
                      f"report {html_path}, results {json_path}"
                      + (f"; baseline written to {s.baseline_path}" if s.update_baseline else ""))


def _sample_sizes(s: AmxSession, evidence) -> dict | None:
    """``amx.claims.stability.sample_sizes`` for the judged cases of the claim sets whose images
    follow ``--n-images`` (those that read the ScoreTable and collect nothing of their own)."""
    from amx.claims.stability import sample_sizes

    start = time.perf_counter()
    scaled = {c.id: c for cs in s.claim_sets if cs.needs_scores and cs.collect is None for c in cs.cases()}
    judged = [(scaled[e["case_id"]], e["passed"], e["stability"]["share"]) for e in s.entries
              if e["case_id"] in scaled and e.get("stability") and e["outcome"] != "not applicable"
              and not e.get("details", {}).get("p_holm")]  # under --holm the share is of another rule
    if not judged:
        return None
    found = sample_sizes(judged, evidence, s.n_images, s.seed, s.stability)
    s.stage_seconds["sample sizes"] = round(time.perf_counter() - start, 2)
    return found


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    s = config.stash.get(session_key, None)
    if s is None:
        return
    flips = [e for e in s.entries if e["outcome"] == "borderline flip"]
    if flips:
        terminalreporter.section("amx: borderline flips")
        terminalreporter.write_line(f"{len(flips)} verdict(s) flipped against the baseline where the case is "
                                    "borderline (not failures; --strict-verdicts fails them):")
        for entry in flips:
            terminalreporter.write_line(f"  {entry['case_id']}: {entry['baseline_change']}")
    if s.summary_line:
        terminalreporter.write_line(s.summary_line)


def _provenance(s: AmxSession) -> dict:
    from amx.report.results import provenance
    from amx.zoo import registry

    fingerprints = {name: spec.sha256 for name, spec in registry.specs(s.world.name).items()}
    run_config = passes = None
    if s.run is not None:
        stages = [asdict(x) for x in s.run.stages]
        passes = {"forwards": sum(x["forwards"] for x in stages),
                  "forward_backwards": sum(x["forward_backwards"] for x in stages),
                  "compute_seconds": round(sum(x["seconds"] for x in stages), 1), **s.run.efficiency,
                  "throughput_s_per_image": s.run.throughput, "stages": stages}
        run_config = {**asdict(s.run.config), "metric_configs": s.run.metric_configs}
    prov = provenance(s.world, s.device, s.device_name, s.seed, s.n_images, run_config, fingerprints,
                      dict(s.stage_seconds), passes)
    prov["stability"] = asdict(s.stability)
    prov["baseline"] = {"path": str(s.baseline_path) if s.baseline_path else None,
                        "warnings": s.baseline_warnings}
    return prov


def _write_baseline(s: AmxSession) -> None:
    stable = {e["case_id"]: e["stability"] for e in s.entries if e.get("stability")}
    data = {**s.record(), "created": time.strftime("%Y-%m-%d"),
            "cases": {v.case_id: {"passed": v.passed, "statistic": v.statistic,
                                  **({"stability": {k: stable[v.case_id][k] for k in ("share", "label")}}
                                     if v.case_id in stable else {})} for v in s.verdicts}}
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    write_atomic(s.baseline_path, lambda f: f.write(text.encode()))
