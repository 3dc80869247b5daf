"""The amx pytest plugin (entry point ``pytest11: amx``): options, markers, session fixtures,
claim judging against a baseline, and the report written at the end of every claims session.

A thin layer over one ``AmxSession`` kept in ``config.stash``. Options (group "amx"):

* ``--gpu``: run models on CUDA; a usage error if torch sees no CUDA device;
* ``--world NAME``: the world to regenerate claims on (default: the embedded world ``mini``);
* ``--n-images N``: CL images per architecture the claims use (default 100);
* ``--cache-dir DIR`` (default ``.amx-cache`` or ``$AMX_CACHE``), ``--report-dir DIR`` (default
  ``reports``);
* ``--baseline PATH``: compare every claim case's verdict with a stored one; ``--update-baseline``
  writes this session's verdicts to PATH instead.

The ``claims`` marker tags tests that regenerate a paper claim; the test suite's ``addopts``
deselects them (``-m "not claims"``) and ``pytest evals -m claims`` selects them.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from amx.data.worlds import DEFAULT_WORLD, WORLDS, World, get_world
from amx.files import write_atomic

DEFAULT_N_IMAGES = 100
TABLE1_IMAGES = 1000  # Table 1 (P11) is evaluated on the world's first 1,000 eval images
HEATMAP_IMAGES = 2


@dataclass
class AmxSession:
    """What one pytest session regenerates on, and what its claim cases concluded."""

    world: World
    device: str
    n_images: int
    cache_dir: str | None = None
    report_dir: Path = Path("reports")
    baseline_path: Path | None = None
    update_baseline: bool = False
    baseline: dict = field(default_factory=dict)
    verdicts: list = field(default_factory=list)
    entries: list = field(default_factory=list)
    table: object = None
    zoo: list | None = None
    run_config: object = None
    stage_seconds: dict = field(default_factory=dict)
    summary_line: str = ""

    def judge(self, verdict) -> None:
        """Record ``verdict`` and end the test by it: pass, fail, a flip against the baseline
        (fails, showing the old and new statistic), or an expected failure (it did not hold in
        the baseline either)."""
        self.verdicts.append(verdict)
        old = None if self.update_baseline else self.baseline.get(verdict.case_id)
        if old is None:
            change = "new case" if self.baseline else "no baseline"
            outcome = "passed" if verdict.passed else "failed"
        elif old["passed"] != verdict.passed:
            change = ("flipped: held, now fails" if old["passed"] else "flipped: failed, now holds")
            outcome = "flipped"
        else:
            was = old.get("statistic")
            change = "unchanged" + (f" (statistic was {was:.4g})" if was is not None else "")
            outcome = "passed" if verdict.passed else "expected failure"
        entry = {**asdict(verdict), "claim": verdict.claim, "outcome": outcome, "baseline_change": change,
                 "baseline": old}
        self.entries.append(entry)
        if outcome == "flipped":
            pytest.fail(f"{verdict.case_id}: verdict flipped against the baseline {self.baseline_path} "
                        f"({change}): statistic {old.get('statistic')} -> {verdict.statistic:.4g}\n"
                        f"{verdict.message}", pytrace=False)
        if outcome == "expected failure":
            pytest.xfail(f"did not hold in the baseline either: {verdict.message}")
        if not verdict.passed:
            pytest.fail(verdict.message, pytrace=False)


session_key = pytest.StashKey[AmxSession]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("amx", "amx: regenerate explainability claims")
    group.addoption("--gpu", action="store_true", default=False,
                    help="run models on CUDA (fails if no CUDA device is available). Default: CPU.")
    group.addoption("--world", default=DEFAULT_WORLD, metavar="NAME",
                    help=f"world to evaluate on; one of {sorted(WORLDS)} (default: {DEFAULT_WORLD}).")
    group.addoption("--n-images", type=int, default=DEFAULT_N_IMAGES, metavar="N",
                    help=f"CL images per architecture the claims use (default: {DEFAULT_N_IMAGES}).")
    group.addoption("--cache-dir", default=None, metavar="DIR",
                    help="content-addressed cache of maps and scores (default: $AMX_CACHE or .amx-cache).")
    group.addoption("--report-dir", default="reports", metavar="DIR",
                    help="where claims.html and results.json are written (default: reports).")
    group.addoption("--baseline", default=None, metavar="PATH",
                    help="compare each claim case's verdict with this baseline JSON; a flip fails.")
    group.addoption("--update-baseline", action="store_true", default=False,
                    help="write this session's verdicts to the --baseline PATH.")


def _load_baseline(path: Path, world: World) -> dict:
    if not path.is_file():
        raise pytest.UsageError(f"--baseline: no file {path}; create it with --update-baseline")
    try:
        data = json.loads(path.read_text())
        cases = data["cases"]
    except (ValueError, KeyError) as err:
        raise pytest.UsageError(f"--baseline: {path} is not an amx baseline ({err})") from None
    if data.get("world") != world.name:
        raise pytest.UsageError(f"--baseline: {path} was recorded on world {data.get('world')!r}, "
                                f"this session runs on {world.name!r}")
    return cases


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "claims: regenerates a paper claim on the world's zoo (select with -m claims)")
    try:
        world = get_world(config.getoption("--world"))
    except KeyError as err:
        raise pytest.UsageError(f"--world: {err}") from None
    n_images = config.getoption("--n-images")
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
    baseline_path = Path(baseline_path) if baseline_path else None
    baseline = _load_baseline(baseline_path, world) if baseline_path and not update else {}
    config.stash[session_key] = AmxSession(
        world=world, device=device, n_images=n_images, cache_dir=config.getoption("--cache-dir"),
        report_dir=Path(config.getoption("--report-dir")), baseline_path=baseline_path,
        update_baseline=update, baseline=baseline)


def pytest_report_header(config: pytest.Config) -> str:
    s = config.stash[session_key]
    return (f"amx: world={s.world.name} device={s.device} n_images={s.n_images}"
            + (f" baseline={s.baseline_path}" if s.baseline_path else ""))


@pytest.fixture(scope="session")
def amx_session(pytestconfig: pytest.Config) -> AmxSession:
    """The session's world, device, image budget, baseline and judged verdicts."""
    return pytestconfig.stash[session_key]


@pytest.fixture(scope="session")
def zoo_table(amx_session: AmxSession) -> list[dict]:
    """The regenerated Table 1 of the session's world (cached on disk by content)."""
    from amx.zoo.evaluate import evaluate_zoo

    start = time.perf_counter()
    amx_session.zoo = evaluate_zoo(amx_session.world, n_images=TABLE1_IMAGES, device=amx_session.device,
                                   log=lambda msg: None)
    amx_session.stage_seconds["table1"] = round(time.perf_counter() - start, 1)
    return amx_session.zoo


@pytest.fixture(scope="session")
def score_table(amx_session: AmxSession, pytestconfig: pytest.Config):
    """The ScoreTable of the world's zoo x the paper's methods x metrics on the CL images, from
    the cache where it can; tqdm bars show progress (pytest's capture is lifted for them)."""
    from amx.pipeline import RunConfig, run

    amx_session.run_config = RunConfig(world=amx_session.world.name, n_images=amx_session.n_images,
                                       device=amx_session.device)
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    start = time.perf_counter()
    with capture.global_and_fixture_disabled():
        amx_session.table = run(amx_session.run_config, cache=amx_session.cache_dir)
    amx_session.stage_seconds["pipeline"] = round(time.perf_counter() - start, 1)
    return amx_session.table


@pytest.fixture(scope="session")
def claim_evidence(score_table, zoo_table):
    """What the paper's claims are checked on: the ScoreTable and Table 1."""
    from amx.claims.paper import Evidence

    return Evidence(score_table, zoo_table)


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    """After a session that judged claims (passing or not): the report, and the baseline on request."""
    s = session.config.stash.get(session_key, None)
    if s is None or not s.entries:
        return
    from amx.report import build_results, write_html, write_results
    from amx.report.results import provenance

    start = time.perf_counter()
    table = s.table
    results = build_results(s.entries, table, s.zoo, _provenance(s, provenance), _heatmaps(s))
    results["provenance"]["stage_seconds"]["report"] = round(time.perf_counter() - start, 1)
    json_path = write_results(results, s.report_dir / "results.json")
    html_path = write_html(results, s.report_dir / "claims.html")
    if s.update_baseline:
        _write_baseline(s)
    holding = sum(x["holds"] for x in results["summary"])
    s.summary_line = (f"amx: {holding} of {len(results['summary'])} claims hold; report {html_path}, "
                      f"results {json_path}"
                      + (f"; baseline written to {s.baseline_path}" if s.update_baseline else ""))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    s = config.stash.get(session_key, None)
    if s is not None and s.summary_line:
        terminalreporter.write_line(s.summary_line)


def _provenance(s: AmxSession, provenance) -> dict:
    from amx.zoo import registry

    fingerprints = {name: spec.sha256 for name, spec in registry.specs(s.world.name).items()}
    run_config = asdict(s.run_config) if s.run_config is not None else None
    passes = None
    if s.table is not None:
        stages = s.table.attrs.get("stages", [])
        passes = {"forwards": sum(x["forwards"] for x in stages),
                  "forward_backwards": sum(x["forward_backwards"] for x in stages),
                  "compute_seconds": round(sum(x["seconds"] for x in stages), 1),
                  **s.table.attrs.get("efficiency", {}),
                  "throughput_s_per_image": s.table.attrs.get("throughput", {}), "stages": stages}
        run_config = {**(run_config or {}), "metric_configs": s.table.attrs.get("metric_configs")}
    return provenance(s.world, s.device, run_config, fingerprints, dict(s.stage_seconds), passes)


def _heatmaps(s: AmxSession) -> dict:
    """Fig 1's data: every method's map for the ResNet variants on the first CL images."""
    import base64

    import numpy as np

    from amx.data.arrays import load_split
    from amx.pipeline.run import cached_maps
    from amx.pipeline.subsets import pool_size

    if s.table is None or s.run_config is None:
        return {}
    rows = s.table[s.table["architecture"] == "resnet"]
    if rows.empty:
        return {}
    images = sorted(rows["image"].unique())[:HEATMAP_IMAGES]
    models, methods = list(dict.fromkeys(rows["model"])), list(dict.fromkeys(rows["method"]))
    pool = load_split(s.world, "eval", pool_size(s.run_config.n_images))

    def encode(array) -> str:
        return base64.b64encode(np.ascontiguousarray(array, dtype=np.uint8).tobytes()).decode()

    maps = {}
    for model in models:
        for method, found in cached_maps(s.run_config, model, methods, images, s.cache_dir).items():
            for image, m in found.items():
                m = m - m.min()
                m = m / m.max() if m.max() > 0 else m
                maps.setdefault(model, {}).setdefault(method, {})[str(image)] = encode(255 * m)
    return {"size": s.world.image_size, "models": models, "methods": methods,
            "images": {str(i): encode(pool.images[i].transpose(1, 2, 0)) for i in images}, "maps": maps}


def _write_baseline(s: AmxSession) -> None:
    data = {"world": s.world.name, "n_images": s.n_images, "created": time.strftime("%Y-%m-%d"),
            "cases": {v.case_id: {"passed": v.passed, "statistic": v.statistic} for v in s.verdicts}}
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    write_atomic(s.baseline_path, lambda f: f.write(text.encode()))
