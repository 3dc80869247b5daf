"""The amx pytest plugin (entry point ``pytest11: amx``): options, markers, session fixtures,
the claim cases of every registered claim set, judging against a baseline, and the report written
at the end of every claims session.

A thin layer over one ``amx.session.Session`` (planned, run and judged there), kept with the
pytest-side settings in an ``AmxSession`` in ``config.stash``. Options (group "amx"):

* ``--gpu``: run models on CUDA; a usage error if torch sees no CUDA device;
* ``--world NAME``: the world to regenerate claims on (default: the embedded world);
* ``--n-images N``: images per architecture the claims use (default: the world's
  ``default_n_images``, 100 on the embedded world);
* a world's own settings (``World.options``), e.g. ``--imagenet-root DIR``, which set the
  environment variables the world reads;
* ``--preset NAME``: the methods' and metrics' hyperparameters (default: the world's); ``smoke``
  runs a few passes of each, to check that a world's data, models and claims run end to end;
* ``--seed S``: draws the image subsets and seeds stochastic methods (default 0);
* ``--executor ray`` (with ``--ray-address``, ``--cpus-per-task``, ``--gpus-per-task``): the tasks
  on a Ray cluster (``amx.pipeline.ray_executor``) instead of in this process;
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

Each case's outcome (``amx.claims.judge``) ends its test: a pass; a failure; a verdict that
flips against the baseline where the case is stable in both runs fails; a *borderline flip*
(either run borderline) is listed in the terminal summary and the report, not a failure (the test
passes if the case holds now, else it is an expected failure), unless ``--strict-verdicts``; a
case that did not hold in the baseline either is an expected failure; a case the world cannot
regenerate is skipped as not applicable.

A baseline (``amx.claims.baseline``) recorded on another world or world version is a usage error;
one recorded with another n_images, seed, device or amx version is compared all the same, with an
``AmxBaselineWarning`` naming each difference (in the warnings summary and the report).

The ``claims`` marker tags tests that regenerate a paper claim; the test suite's ``addopts``
deselects them (``-m "not claims"``) and ``pytest evals -m claims`` selects them. A test that
takes the ``claim_case`` argument (``amx.claims.suite.test_claim``) is parametrised over the
cases of every claim set active on the world (``amx.claims.active``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from amx.claims import baseline as baselines
from amx.claims.baseline import AmxBaselineWarning
from amx.claims.judge import AmxStabilityWarning, Judge
from amx.claims.stability import StabilityConfig
from amx.data.worlds import DEFAULT_WORLD, get_world, world_options
from amx.files import environment
from amx.session import Session

__all__ = ["AmxBaselineWarning", "AmxSession", "AmxStabilityWarning"]


@dataclass
class AmxSession:
    """One pytest session's ``Session`` (``session``), its ``Judge`` and where its report and
    baseline go; ``judge_case`` and ``judge`` end a test by the case's outcome."""

    session: Session
    report_dir: Path = Path("reports")
    baseline_path: Path | None = None
    update_baseline: bool = False
    judged: Judge | None = None
    plan: list = field(default_factory=list)  # every request's stages (Session.plan)
    selected: list | None = None  # the claim sets with a collected case (None: all)
    computed: bool = False
    summary_line: str = ""

    @property
    def world(self):
        return self.session.world

    @property
    def entries(self) -> list[dict]:
        return self.judged.entries

    def evidence_of(self, case):
        """The evidence of the claim set ``case`` belongs to."""
        claim_set = next(cs for cs in self.session.claim_sets if case.claim in {c.id for c in cs.claims})
        return self.session.evidence(claim_set)

    def judge_case(self, case) -> None:
        """Judge ``case`` on its claim set's evidence and end the test by its outcome."""
        self.conclude(self.judged.case(case, self.evidence_of(case)))

    def judge(self, verdict, stable=None) -> None:
        """Record a ``Verdict`` judged elsewhere (with its ``Stability``) and end the test by it."""
        self.conclude(self.judged.record(verdict, stable))

    def conclude(self, entry: dict) -> None:
        """Pass, fail, skip or xfail the running test by ``entry``'s outcome."""
        outcome, change, message = entry["outcome"], entry["baseline_change"], entry["message"]
        if outcome == "not applicable":
            pytest.skip(f"not applicable: {entry['reason']}" + (f" ({change})" if change else ""))
        if outcome == "borderline flip" and not entry["passed"]:
            pytest.xfail(f"borderline flip against the baseline {self.baseline_path} ({change}), not a "
                         f"failure without --strict-verdicts: {message}")
        if outcome == "flipped":
            was = entry["baseline"].get("statistic")
            pytest.fail(f"{entry['case_id']}: verdict flipped against the baseline {self.baseline_path} "
                        f"({change}): statistic {was} -> {entry['statistic']:.4g}\n{message}", pytrace=False)
        if outcome == "expected failure":
            pytest.xfail(f"did not hold in the baseline either: {message}")
        if outcome == "failed":
            pytest.fail(message, pytrace=False)


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
    group.addoption("--preset", default=None, metavar="NAME",
                    help="the methods' and metrics' hyperparameters (amx.presets; default: the world's); "
                         "smoke: a few passes each, to check that a world runs end to end.")
    group.addoption("--seed", type=int, default=0, metavar="S",
                    help="seed of the image subsets and of stochastic methods (default: 0).")
    group.addoption("--cache-dir", default=None, metavar="DIR",
                    help="content-addressed cache of maps and scores (default: $AMX_CACHE or .amx-cache).")
    group.addoption("--report-dir", default="reports", metavar="DIR",
                    help="where claims.html and results.json are written (default: reports).")
    for option in world_options():
        group.addoption(f"--{option.name}", dest=option.dest, default=None, metavar=option.name.upper(),
                        help=f"{option.help} (sets ${option.env}).")
    from amx.pipeline.ray_executor import OPTIONS

    for flag, kwargs in OPTIONS:
        group.addoption(flag, **kwargs)
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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "claims: regenerates a paper claim on the world's zoo (select with -m claims)")

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
    except ValueError as err:  # a zoo file (--zoo) that cannot be used: it names file, model and key
        raise pytest.UsageError(f"--zoo: {err}") from None
    n_images = config.getoption("--n-images")
    if n_images is not None and n_images <= 0:
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
    try:
        from amx.pipeline.ray_executor import from_options

        executor = from_options(lambda dest: config.getoption(dest), device=device)
    except ValueError as err:
        raise pytest.UsageError(str(err)) from None
    config.add_cleanup(executor.close)
    try:
        session = Session(world, n_images=n_images, seed=config.getoption("--seed"), device=device,
                          cache=config.getoption("--cache-dir"), preset=config.getoption("--preset"),
                          stability=stable, holm=config.getoption("--holm"),
                          strict_verdicts=config.getoption("--strict-verdicts"),
                          baseline_path=Path(baseline_path) if baseline_path else None, executor=executor)
    except KeyError as err:
        raise pytest.UsageError(f"--preset: {err}") from None
    adapter = AmxSession(session, report_dir=Path(config.getoption("--report-dir")),
                         baseline_path=session.baseline_path, update_baseline=update)
    try:  # every request's plan reads the world's data and zoo: a missing tree or model fails here
        adapter.plan = session.plan()
    except (KeyError, ValueError, FileNotFoundError) as err:
        names = [c.name for c in session.claim_sets]
        raise pytest.UsageError(f"--world {world.name}: claim sets {names} cannot be run: {err}") from None
    baseline = None
    if session.baseline_path and not update:
        try:
            baseline, session.baseline_warnings = baselines.load(session.baseline_path, session.record())
        except ValueError as err:
            raise pytest.UsageError(str(err)) from None
        for warning in session.baseline_warnings:
            config.issue_config_time_warning(AmxBaselineWarning(warning), stacklevel=2)
    adapter.judged = session.judge_for(baseline)
    config.stash[session_key] = adapter


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``claim_case`` over the cases of the world's active claim sets."""
    if "claim_case" in metafunc.fixturenames:
        from amx.claims import cases

        found = cases(metafunc.config.stash[session_key].session.claim_sets)
        metafunc.parametrize("claim_case", found, ids=[c.id for c in found])


def pytest_report_header(config: pytest.Config) -> list[str]:
    s = config.stash[session_key]
    x = s.session
    lines = [f"amx: world={x.world.name} device={x.device} n_images={x.n_images} seed={x.seed} "
             f"claim sets={','.join(c.name for c in x.claim_sets)}"
             + (f" baseline={s.baseline_path}" if s.baseline_path else "")]
    if s.plan:
        lines.append(f"amx: the claims cost {sum(x.forwards for x in s.plan):,} forwards and "
                     f"{sum(x.forward_backwards for x in s.plan):,} forward+backward passes on an empty "
                     "cache (the time at a throughput probe is printed before the run)")
    return lines


def pytest_collection_finish(session: pytest.Session) -> None:
    """Only the claim sets whose cases were selected (``-k``, node ids) have their evidence computed."""
    s = session.config.stash.get(session_key, None)
    if s is None:
        return
    claims = {item.callspec.params["claim_case"].claim for item in session.items
              if "claim_case" in getattr(getattr(item, "callspec", None), "params", {})}
    s.selected = [cs for cs in s.session.claim_sets if any(c.id in claims for c in cs.claims)]


@pytest.fixture(scope="session")
def amx_session(pytestconfig: pytest.Config) -> AmxSession:
    """The session's world, device, image budget, baseline and judged verdicts."""
    return pytestconfig.stash[session_key]


@pytest.fixture(scope="session")
def zoo_table(amx_session: AmxSession) -> list[dict]:
    """The regenerated Table 1 of the session's world (cached on disk by content)."""
    from amx.evidence import ZooTable

    return ZooTable().compute(amx_session.session.context)


@pytest.fixture(scope="session")
def claim_evidence(amx_session: AmxSession, pytestconfig: pytest.Config) -> dict:
    """The evidence (``{claim set: Evidence}``) of the claim sets whose cases were selected, computed
    where the cache lacks it, after the plan and its time at a throughput probe (pytest's capture
    is lifted for them)."""
    from amx.pipeline.plan import describe

    session = amx_session.session
    stages = session.plan(amx_session.selected)
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        slots = getattr(session.context.executor, "slots", None)  # a parallel executor's task slots
        print(f"\namx: the run's passes and, at a throughput probe on {session.device_name}, their "
              f"time (cached maps and scores are not recomputed)\n"
              + describe(stages, session.rates(stages), workers=slots() if slots else 1), flush=True)
        session.run(amx_session.selected, planned=stages)
    amx_session.computed = True
    return session.evidences()


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    """After a session that judged claims (passing or not): the report, and the baseline on request."""
    s = session.config.stash.get(session_key, None)
    if s is None or s.judged is None or not s.entries:
        return
    from amx.claims import seeds

    x = s.session
    results = x.results(s.judged) if s.computed else _judged_only(s)
    results["seed_stability"] = seeds.load_matching(s.report_dir, x.world.name, x.n_images)
    json_path, html_path = x.write_report(results, s.report_dir)
    if s.update_baseline:
        baselines.write(s.baseline_path, x.record(), s.judged.verdicts, s.judged.entries)
    judged = [x for x in results["summary"] if x["holds"] is not None]
    s.summary_line = (f"amx: {sum(x['holds'] for x in judged)} of {len(judged)} claims hold; "
                      f"report {html_path}, results {json_path}"
                      + (f"; baseline written to {s.baseline_path}" if s.update_baseline else ""))


def _judged_only(s: AmxSession) -> dict:
    """The results of verdicts judged without the session's evidence (tests that judge their own)."""
    from amx.session import build_results

    results = build_results(s.entries, s.session.claim_sets, {}, s.session.provenance())
    results.update(sample_sizes=None, seed_stability=None)
    return results


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


