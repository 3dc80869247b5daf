"""``amx`` command line: ``amx run``, ``amx report``, ``amx stability``, ``amx diff``, ``amx zoo list
| check | trust | train | eval`` and ``amx bench metrics | methods | similarity | localisation |
executor``. Every command that takes ``--world`` also takes ``--zoo FILE`` (a zoo file,
``amx.zoo.file``) and the registered worlds' own options (``World.options``: ``--imagenet-root``,
``--weights-dir``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from amx.data.worlds import DEFAULT_WORLD, get_world, world_options
from amx.files import environment, write_json


def _zoo_list(args) -> int:
    from amx.zoo.registry import specs

    get_world(args.world)
    rows = [("name", "architecture", "regime", "CAM layer", "GAP head", "trained")]
    for spec in specs(args.world).values():
        rows.append((spec.name, spec.architecture, spec.regime, spec.cam_layer,
                     "yes" if spec.gap_head else "no", "yes" if spec.sha256 else "no"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    return 0


def _zoo_check(args) -> int:
    """Per model of the world's zoo: found or missing, the file, its sha256 and its source."""
    from amx.zoo.registry import specs

    rows = [("model", "status", "sha256", "file", "source")]
    for spec in specs(args.world).values():
        rows.append((spec.name, "found" if spec.sha256 else "MISSING", spec.sha256 or "-", spec.weights,
                     spec.provenance))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
    missing = sum(r[1] == "MISSING" for r in rows[1:])
    note = f"; claim cases that need the {missing} missing are reported as not applicable" if missing else ""
    print(f"{len(rows) - 1 - missing} of {len(rows) - 1} models found{note}")
    return 0


def _zoo_trust(args) -> int:
    from amx.zoo.checkpoints import trust, trust_file

    digest = trust(Path(args.path))
    print(f"trusted {Path(args.path).resolve()} (sha256 {digest}); recorded in {trust_file()}. amx will "
          f"unpickle this exact file fully, which runs any code pickled in it.")
    return 0


def _trainable_zoo(world):
    if not hasattr(world.zoo, "train"):
        raise ValueError(f"world {world.name!r}: its zoo is not trained by amx (its weights come from "
                         "elsewhere; see the world's description)")
    return world.zoo


def _zoo_train(args) -> int:
    world = get_world(args.world)
    _trainable_zoo(world).train(world, only=args.model or None, force=args.force, workers=args.workers,
                                log=lambda msg: print(msg, flush=True))
    return 0


def _zoo_eval(args) -> int:
    from amx.zoo.evaluate import evaluate_zoo, format_table
    from amx.zoo.targets import check_targets, format_targets

    world = get_world(args.world)
    if args.record and args.model:
        raise ValueError("--record stores the whole zoo's table; use it without --model")
    zoo = _trainable_zoo(world) if args.record else None
    table = evaluate_zoo(world, n_images=args.n_images or world.zoo_eval_images, models=args.model or None,
                         device=args.device, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(format_table(table))
    if not args.model and hasattr(world.zoo, "train"):  # the bar amx's own trained zoos must clear
        print(format_targets(check_targets(table)))
    if zoo is not None:
        zoo.record_table1(table)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(table, indent=2) + "\n")
    return 0


def _bench_model(world: str) -> str:
    """The model benchmarks default to: the world's first vanilla ResNet, else its first model."""
    from amx.zoo.registry import specs

    found = specs(world)
    return next((n for n, s in found.items() if (s.architecture, s.regime) == ("resnet", "vanilla")),
                next(iter(found)))


def _bench_metrics(args) -> int:
    from amx.bench import machine, write_result
    from amx.bench.metrics import bench_metrics

    result = bench_metrics(world=args.world, model_name=args.model or _bench_model(args.world),
                           n_images=args.n_images,
                           reference_images=args.reference_images, batch_size=args.batch_size,
                           device=args.device, log=lambda msg: print(msg, flush=True))
    result["machine"] = machine(args.device)
    path = write_result(args.out, result)
    print(f"efficiency {result['efficiency']} (target >= 0.7), "
          f"{result['speedup_vs_reference']}x the RISE-style loop (target >= 5), "
          f"max |AUC difference| {result['max_abs_auc_difference']:.2e} (<= 1e-5: "
          f"{result['aucs_equal']}); ROAD: efficiency {result['road']['efficiency']}, "
          f"{result['road']['speedup_vs_reference']}x the reference's loop; written to {path}")
    return 0


def _bench_methods(args) -> int:
    from amx.bench import machine, write_result
    from amx.bench.methods import bench_methods

    result = bench_methods(model_name=args.model or _bench_model(args.world), world=args.world,
                           n_images=args.n_images,
                           names=args.method or None, batch_size=args.batch_size, device=args.device,
                           log=lambda msg: print(msg, flush=True))
    result["machine"] = machine(args.device)
    print(f"lowest efficiency {result['min_efficiency']} (target >= 0.7); written to "
          f"{write_result(args.out, result)}")
    return 0


def _run(args) -> int:
    """The evidence of the world's claim sets (every request: ScoreTables, sweeps, boundary points),
    or with --models/--methods/--metrics/--subset/--preset one ScoreTable of those; --dry-run
    prints the plan and its time at a throughput probe instead (with --executor ray, also on the
    cluster's task slots)."""
    from amx.session import Session

    executor = _executor(args, args.device)
    session = Session(get_world(args.world), n_images=args.n_images, seed=args.seed, device=args.device,
                      cache=args.cache_dir, preset=args.preset, executor=executor)
    try:
        return _run_session(args, session)
    finally:
        session.close()


def _executor(args, device: str):
    """The executor the command's ``--executor`` options select (``amx.pipeline.ray_executor``)."""
    from amx.pipeline.ray_executor import from_options

    return from_options(lambda dest: getattr(args, dest), device=device)


def _run_session(args, session) -> int:
    import time

    from amx.claims.spec import RequestFailed
    from amx.evidence import Scores
    from amx.metrics import METRICS
    from amx.pipeline import RunConfig, run, save_table
    from amx.pipeline.plan import describe, plan
    from amx.session import failed_tasks

    world = session.world
    configs = []
    if args.models or args.methods or args.metrics or args.subset or args.pair:
        default = next((r for r in session.requests() if isinstance(r, Scores)), None)
        methods = tuple(args.methods or (default.methods if default else ()))
        metrics = tuple(args.metrics or (default.metrics if default else ()))
        subset = args.subset or "cl"
        pair = tuple(args.pair or (default.pair if default else ())) if subset == "cl" else None
        models = tuple(args.models or session.context.runnable(subset, pair))
        configs = [RunConfig(world=world.name, models=models, methods=methods, metrics=metrics, subset=subset,
                             pair=pair, n_images=session.n_images, preset=args.preset, seed=args.seed,
                             device=args.device)]
        stages = [stage for config in configs for stage in plan(config)]
    else:
        stages = session.plan()
    if args.dry_run:
        slots = getattr(session.context.executor, "slots", None)
        print(describe(stages, session.rates(stages), workers=slots() if slots else 1))
        return 0
    start = time.perf_counter()
    if configs:
        results = [run(configs[0], cache=args.cache_dir, executor=session.context.executor)]
    else:
        session.run()
        results = [r for q, r in session.results_of.items() if isinstance(q, Scores)]
    failed = [r for r in results if isinstance(r, RequestFailed)]
    for result in results:
        if isinstance(result, RequestFailed):
            continue
        table = result.table
        subset = result.config.subset
        first = None if configs else result.config.first  # a table of the first images: its own file
        name = ("scores" + ("" if configs or subset == "cl" else f"-{subset}")
                + (f"-first{first}" if first else "") + ".csv")
        path = save_table(result, Path(args.out) / name)
        ok = table[table["status"] == "ok"]
        columns = [METRICS.get(m).column for m in result.config.metrics]
        summary = ok.groupby(["model", "method"])[columns].mean()
        print(summary.round(3).to_string())
        n_na, errors = int((table["status"] == "n/a").sum()), failed_tasks(result)
        print(f"{len(table)} rows ({n_na} N/A, {int((table['status'] == 'error').sum())} failed); "
              f"written to {path} (+ {path.name}.meta.json)")
        for failure in errors:
            print(f"amx: {failure}", file=sys.stderr)
        failed += errors
    print(f"done in {time.perf_counter() - start:.1f}s")
    return 1 if failed else 0


def _bench_executor(args) -> int:
    import os

    from amx.bench import machine, write_result
    from amx.bench.executor import bench_executor
    from amx.pipeline.ray_executor import RayOptions, make_executor

    make_executor("ray")  # without Ray: how to install it, before the first (long) run
    options = RayOptions(num_cpus=args.num_cpus or os.cpu_count(), cpus_per_task=args.cpus_per_task)
    result = bench_executor(args.world, args.n_images, args.preset, options,
                            log=lambda msg: print(msg, flush=True))
    result["machine"] = machine("cpu")
    print(f"ray / in-process: {result['ratio']} (target <= {result['target_ratio']}); "
          f"of {result['cases_compared']} cases, {len(result['verdicts_differ'])} verdicts and "
          f"{len(result['labels_differ'])} stability labels differ; written to "
          f"{write_result(args.out, result)}")
    return 0


def _bench_similarity(args) -> int:
    from amx.bench import machine, write_result
    from amx.bench.similarity import bench_similarity

    result = bench_similarity(n_pairs=args.n_pairs, size=args.size, device=args.device,
                              log=lambda msg: print(msg, flush=True))
    result["machine"] = machine(args.device)
    print(f"written to {write_result(args.out, result)}")
    return 0


def _bench_localisation(args) -> int:
    from amx.bench import machine, write_result
    from amx.bench.localisation import bench_localisation

    result = bench_localisation(n_maps=args.n_maps, size=args.size, log=lambda msg: print(msg, flush=True))
    result["machine"] = machine("cpu")
    print(f"written to {write_result(args.out, result)}")
    return 0


def _stability(args) -> int:
    get_world(args.world)
    world_args = [f"--{o.name}={getattr(args, o.dest)}" for o in world_options()
                  if getattr(args, o.dest, None)]
    if args.kernels:
        return _kernel_stability(args, world_args)
    if args.seed is not None:
        raise ValueError("--seed goes with --kernels; with --seeds, each run takes its seed from --seeds")
    from amx.claims import renderers, seeds
    from amx.report import load_results, write_html, write_results
    from amx.session import Session

    report_dir = Path(args.report_dir)
    world, device = get_world(args.world), "cuda" if args.gpu else "cpu"
    executor = _executor(args, device)  # one for every seed: a Ray cluster starts once
    runs = {}
    try:
        for seed in dict.fromkeys(args.seeds):  # one session per seed
            session = Session(world, n_images=args.n_images, seed=seed, device=device, cache=args.cache_dir,
                              executor=executor)
            print(f"amx stability: seed {seed}: {session.n_images} images per architecture", flush=True)
            session.run()
            runs[seed] = session.results(session.judge())
            session.write_report(runs[seed], report_dir / "seeds" / str(seed))
    finally:
        executor.close()
    record = seeds.seed_stability(runs)
    written = write_json(report_dir / seeds.FILE, record)
    main = report_dir / "results.json"
    results = load_results(main) if main.is_file() else None
    same = results and (results["provenance"]["world"], results["provenance"]["n_images"]) == (
        record["world"], record["n_images"])
    if not same:  # no claims report of this world and image budget yet: the first seed's
        results = runs[min(runs)]
    results["seed_stability"] = record
    write_results(results, main)
    html = write_html(results, report_dir / "claims.html", renderers())
    s = record["summary"]
    print(f"amx stability: of {s['cases']} cases judged under seeds {record['seeds']}, "
          f"{s['hold_under_all']} hold under every seed, {s['hold_under_none']} under none and {s['flip']} "
          f"flip between seeds ({s['flip_and_stable']} of them stable under every seed); {s['borderline']} "
          f"are borderline under some seed. Written to {written} and {html}")
    return 0


def _kernel_stability(args, world_args: list[str]) -> int:
    """The claims under each kernel path, compared; exit 1 when a verdict or a label differs."""
    from amx import kernels
    from amx.claims import kernel_paths
    from amx.data.arrays import cache_dir
    from amx.report import load_results

    if args.gpu:
        raise ValueError("--kernels compares CPU kernel paths; drop --gpu")
    if args.executor != "inprocess":
        raise ValueError("--kernels runs each kernel path in a pytest process of its own; drop --executor")
    paths = list(dict.fromkeys(path.lower() for path in args.kernels))
    if len(paths) < 2:
        raise ValueError(f"--kernels: name two or more kernel paths to compare, got {paths}")
    for path in paths:
        kernels.environment(path)  # an unknown or unavailable path is an error before any run
    report_dir, cache = Path(args.report_dir), Path(args.cache_dir or cache_dir())
    runs = {}
    for path in paths:
        results, store = kernel_paths.regenerate(path, report_dir, cache, args.world, args.n_images,
                                                 args.seed or 0, world_args)
        runs[path] = (load_results(results), store)
    record = kernel_paths.kernel_stability(runs)
    written = write_json(report_dir / kernel_paths.FILE, record)
    s = record["summary"]
    print(kernel_paths.table(record))
    def listed(cases):
        return f" ({', '.join(cases)})" if cases else ""

    print(f"amx stability: of {s['cases']} cases judged under kernel paths {', '.join(paths)}, "
          f"{len(s['verdicts_differ'])} verdicts and {len(s['labels_differ'])} stability labels differ"
          f"{listed(s['verdicts_differ'] + s['labels_differ'])}; {len(s['labels_within_resampling'])} labels "
          f"differ within the resampling's error{listed(s['labels_within_resampling'])} and "
          f"{len(s['timed'])} cases of claims that read runtimes differ{listed(s['timed'])}. "
          f"Written to {written}")
    return 0 if s["same"] else 1


def _report(args) -> int:
    from amx.claims import renderers
    from amx.report import load_results, write_html

    results = load_results(args.results)
    print(f"written {write_html(results, args.out, renderers())} from {args.results}")
    return 0


def _diff(args) -> int:
    """The cases of two runs compared; exit 1 when a verdict flipped where the case is stable."""
    from amx.claims import diff

    result = diff.diff(diff.read_run(args.old), diff.read_run(args.new))
    print(diff.table(result, every=args.all))
    if args.json:
        print(f"written to {write_json(Path(args.json), result)}")
    return 1 if result["counts"]["flipped"] else 0


def _add_executor(p: argparse.ArgumentParser) -> None:
    from amx.pipeline.ray_executor import OPTIONS

    for flag, kwargs in OPTIONS:
        p.add_argument(flag, **kwargs)


def _add_world(p: argparse.ArgumentParser) -> None:
    p.add_argument("--world", default=DEFAULT_WORLD)
    for option in world_options():
        p.add_argument(f"--{option.name}", dest=option.dest, default=None, metavar=option.name.upper(),
                       help=f"{option.help} (sets ${option.env})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="amx", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="the evidence of the claims (ScoreTables, sweeps, boundary points), "
                                   "or one ScoreTable of models x methods x metrics x images (cached)")
    _add_world(p)
    p.add_argument("--models", nargs="+", help="one ScoreTable of these zoo models (default: the whole zoo)")
    p.add_argument("--methods", nargs="+", help="one ScoreTable of these methods (default: the claims')")
    p.add_argument("--metrics", nargs="+", help="one ScoreTable of these metrics (default: the claims')")
    p.add_argument("--subset", default=None, choices=("cl", "random"),
                   help="one ScoreTable on this image subset (default cl)")
    p.add_argument("--pair", nargs=2, metavar=("REGIME", "TWIN"),
                   help="the CL subset's two regimes (default: the claims', e.g. vanilla pgd)")
    p.add_argument("--n-images", type=int, default=None,
                   help="images per architecture (default: the world's, 100 on the embedded world)")
    p.add_argument("--preset", default=None,
                   help="method and metric hyperparameters: paper, smoke (a few passes each), or a "
                        "world's preset (default: the world's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--cache-dir", default=None, help="cache directory (default $AMX_CACHE or .amx-cache)")
    p.add_argument("--out", default="reports/run",
                   help="output directory for scores.csv (a table of the first N images: scores-firstN.csv; "
                        "of another subset: scores-SUBSET.csv)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the passes per stage and their time at a throughput probe; run nothing")
    _add_executor(p)
    p.set_defaults(func=_run)

    p = sub.add_parser("stability", help="rerun the claims with each seed (cached) and report per case how "
                                         "many seeds it holds under, or under each CPU kernel path and "
                                         "compare their maps and verdicts")
    _add_world(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--seeds", type=int, nargs="+", help="seeds, e.g. 0 1 2")
    which.add_argument("--kernels", nargs="+", metavar="PATH",
                       help="CPU kernel paths (ATEN_CPU_CAPABILITY), e.g. default avx512: the claims under "
                            "each, in a cache of its own (<cache>/kernels/PATH); exit 1 if a verdict or a "
                            "label differs")
    p.add_argument("--seed", type=int, default=None, help="with --kernels: the runs' seed (default 0)")
    p.add_argument("--n-images", type=int, default=None,
                   help="images per architecture (default: the world's, 100 on the embedded world)")
    p.add_argument("--gpu", action="store_true", help="run the models on CUDA")
    p.add_argument("--cache-dir", default=None, help="cache directory (default $AMX_CACHE or .amx-cache)")
    p.add_argument("--report-dir", default="reports",
                   help="where seed_stability.json / kernel_stability.json, the claims report and each "
                        "seed's or path's run (seeds/S, kernels/PATH) go")
    _add_executor(p)
    p.set_defaults(func=_stability)

    p = sub.add_parser("report", help="re-render claims.html from results.json, without recomputing")
    p.add_argument("--results", default="reports/results.json")
    p.add_argument("--out", default="reports/claims.html")
    p.set_defaults(func=_report)

    p = sub.add_parser("diff", help="compare two claims runs (results.json or baselines) case by case, "
                                    "naming the changed models each changed case reads; exit 1 on a "
                                    "stable flip")
    p.add_argument("old", help="the earlier run's results.json, or a baseline")
    p.add_argument("new", help="the later run's results.json, or a baseline")
    p.add_argument("--all", action="store_true", help="list unchanged cases too")
    p.add_argument("--json", default=None, help="also write the comparison as JSON to this path")
    p.set_defaults(func=_diff)

    zoo = sub.add_parser("zoo", help="the model zoo").add_subparsers(dest="zoo_command", required=True)

    p = zoo.add_parser("list", help="list the zoo's models")
    _add_world(p)
    p.set_defaults(func=_zoo_list)

    p = zoo.add_parser("check", help="per model: found or missing, its file, sha256 and source")
    _add_world(p)
    p.set_defaults(func=_zoo_check)

    p = zoo.add_parser("trust", help="confirm a checkpoint that cannot be loaded weights-only "
                                     "(recorded by sha256 in amx's user cache directory)")
    p.add_argument("path", help="the checkpoint file")
    p.set_defaults(func=_zoo_trust)

    p = zoo.add_parser("train", help="train a world's zoo, where amx trains it (resumes per model)")
    _add_world(p)
    p.add_argument("--model", action="append", help="train only this model (repeatable)")
    p.add_argument("--force", action="store_true", help="retrain models already in the manifest")
    p.add_argument("--workers", type=int, default=2, help="CPU threads / render processes")
    p.set_defaults(func=_zoo_train)

    p = zoo.add_parser("eval", help="regenerate the paper's Table 1 for the world")
    _add_world(p)
    p.add_argument("--model", action="append", help="evaluate only this model (repeatable)")
    p.add_argument("--n-images", type=int, default=None,
                   help="eval-split images (default: the world's Table 1 images, 1000 on the embedded world)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", help="also write the table as JSON to this path")
    p.add_argument("--record", action="store_true",
                   help="store the table in the zoo's manifest beside its weights (zoo maintainers)")
    p.set_defaults(func=_zoo_eval)

    bench = sub.add_parser("bench", help="benchmarks, written to JSON").add_subparsers(
        dest="bench_command", required=True)
    p = bench.add_parser("metrics", help="Insertion + Deletion speed vs the pass floor and RISE's loop")
    _add_world(p)
    p.add_argument("--model", default=None, help="a zoo model (default: the world's vanilla ResNet)")
    p.add_argument("--n-images", type=int, default=64, help="images to score (default 64)")
    p.add_argument("--reference-images", type=int, default=4,
                   help="images also run through the RISE-style loop (default 4)")
    p.add_argument("--batch-size", type=int, default=256, help="perturbed images per forward")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="reports/bench/metrics.json", help="result JSON path")
    p.set_defaults(func=_bench_metrics)

    p = bench.add_parser("methods", help="every method's ms/image vs its pass floor and reference library")
    _add_world(p)
    p.add_argument("--model", default=None,
                   help="a zoo model (default: the world's vanilla ResNet), or resnet50-random "
                        "(torchvision ResNet-50, 224 px, paper preset)")
    p.add_argument("--method", action="append", help="only this method (repeatable)")
    p.add_argument("--n-images", type=int, default=16, help="images per method (default 16)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="model inputs per pass (default: by image size, 64 at 64 px, 10 at 224 px)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="reports/bench/methods.json", help="result JSON path")
    p.set_defaults(func=_bench_methods)

    p = bench.add_parser("executor", help="the claims run, cold, in process and on a local Ray cluster: "
                                          "wall times, their ratio and how the results compare")
    _add_world(p)
    p.add_argument("--n-images", type=int, default=None,
                   help="images per architecture (default: the world's, 100 on the embedded world)")
    p.add_argument("--preset", default=None,
                   help="the methods' and metrics' hyperparameters (default: the world's)")
    p.add_argument("--num-cpus", type=int, default=None, help="the local cluster's CPUs (default: all)")
    p.add_argument("--cpus-per-task", type=float, default=1.0,
                   help="CPUs (torch threads) per Ray task (default 1)")
    p.add_argument("--out", default="reports/bench/executor.json", help="result JSON path")
    p.set_defaults(func=_bench_executor)

    p = bench.add_parser("similarity", help="batched SSIM / Spearman of maps vs the per-pair references")
    p.add_argument("--n-pairs", type=int, default=256, help="pairs of maps (default 256)")
    p.add_argument("--size", type=int, default=224, help="map side in pixels (default 224)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="reports/bench/similarity.json", help="result JSON path")
    p.set_defaults(func=_bench_similarity)

    p = bench.add_parser("localisation", help="MaxBoxAccV2 and PxAP vs wsolevaluation's code (OpenCV)")
    p.add_argument("--n-maps", type=int, default=64, help="random maps (default 64)")
    p.add_argument("--size", type=int, default=64, help="map side in pixels (default 64)")
    p.add_argument("--out", default="reports/bench/localisation.json", help="result JSON path")
    p.set_defaults(func=_bench_localisation)

    args = parser.parse_args(argv)
    settings = {option.env: str(Path(getattr(args, option.dest)).expanduser())
                for option in world_options() if getattr(args, option.dest, None)}
    if getattr(args, "cache_dir", None):  # every cache of the command: world splits and the store
        settings["AMX_CACHE"] = str(Path(args.cache_dir).expanduser())
    try:
        with environment(settings):
            return args.func(args)
    except (KeyError, ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"amx: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
