"""``amx bench executor``: the claims run with the in-process executor and with Ray, cold.

The same session (a world's active claim sets, its default image budget unless given) runs
twice, each on an empty cache of its own: once in this process, once with ``--executor ray`` on
a local cluster started for it (its start-up counted). Written: the wall time of each run's
evidence (``Session.run``) and their ratio, ``ray / in-process`` (target <= 1.15 on 2 cores), and
how the two runs' results compare:

* the content keys of their maps and score records (equal: the same tasks were planned);
* per (model, method), how many maps differ and by how much, relative to the larger map's scale
  (a task computes on ``cpus_per_task`` threads, the in-process run on this process's; float32
  convolutions round by thread count, README "Reproducibility across machines");
* every case's verdict and stability label, and how far its statistic moved, but the cases of
  claims that read runtimes.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

from amx.data.worlds import get_world
from amx.pipeline.ray_executor import RayOptions, make_executor
from amx.pipeline.store import Store
from amx.session import Session


def _run(world: str, n_images: int | None, preset: str | None, executor, cache: Path, log) -> dict:
    """One cold claims run: its seconds, the judged cases and the store's content."""
    session = Session(get_world(world), n_images=n_images, preset=preset, cache=str(cache), executor=executor,
                      progress=False)
    start = time.perf_counter()
    try:
        session.run(log=log)
    finally:
        session.close()
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    entries = session.judge().entries
    timed = {c.id for cs in session.claim_sets for c in cs.claims if c.timed}
    return {"seconds": seconds, "judge_seconds": time.perf_counter() - start, "n_images": session.n_images,
            "request_seconds": dict(session.stage_seconds),
            "cases": {e["case_id"]: (e["outcome"], (e.get("stability") or {}).get("label"), e["statistic"])
                      for e in entries if e["claim"] not in timed}}


def _content(cache: Path) -> tuple[dict, dict, dict]:
    """The store's maps, score records and map labels (``(model, method)``)."""
    with sqlite3.connect(cache / "store.sqlite") as db:
        maps = [k for (k,) in db.execute("SELECT key FROM maps")]
        records = [k for (k,) in db.execute("SELECT key FROM records")]
    store = Store(cache)
    try:
        return store.get_maps(maps), store.get_records(records), store.labelled("maps")
    finally:
        store.close()


def compare(local: Path, remote: Path) -> dict:
    """How the stores at ``local`` and ``remote`` differ (see the module docstring)."""
    maps, records, labels = _content(local)
    ray_maps, ray_records, _ = _content(remote)
    per_method: dict[str, list[float]] = {}
    for key in set(maps) & set(ray_maps):
        a, b = maps[key], ray_maps[key]
        scale = max(float(np.abs(a).max()), float(np.abs(b).max()), 1e-12)
        model, method = labels.get(key, ("?", "?"))
        per_method.setdefault(f"{model} {method}", []).append(float(np.abs(a - b).max()) / scale)
    same_records = sum(records[k] == ray_records[k] for k in set(records) & set(ray_records))
    return {"map_keys_equal": set(maps) == set(ray_maps), "maps": len(maps),
            "maps_bitwise_equal": sum(d == 0 for ds in per_method.values() for d in ds),
            "maps_differ": {k: {"maps": len(ds), "differ": sum(d > 0 for d in ds), "largest": max(ds)}
                            for k, ds in sorted(per_method.items()) if max(ds) > 0},
            "record_keys_equal": set(records) == set(ray_records), "records": len(records),
            "records_equal": same_records}


def bench_executor(world: str = "mini", n_images: int | None = None, preset: str | None = None,
                   options: RayOptions | None = None, workdir: str | None = None, log=print) -> dict:
    """Both cold runs and their comparison (the module docstring)."""
    options = options or RayOptions(num_cpus=os.cpu_count())
    with tempfile.TemporaryDirectory(dir=workdir, prefix="amx-bench-executor-") as tmp:
        runs = {}
        for name in ("inprocess", "ray"):
            log(f"amx bench executor: the {world} claims run, cold, with the {name} executor")
            runs[name] = _run(world, n_images, preset, make_executor(name, options, progress=False),
                              Path(tmp) / name, log)
            log(f"  {runs[name]['seconds']:.1f} s (judging {runs[name]['judge_seconds']:.1f} s)")
        stores = compare(Path(tmp) / "inprocess", Path(tmp) / "ray")
    local, ray = runs["inprocess"], runs["ray"]
    cases = {k: (v, ray["cases"].get(k, (None, None, None))) for k, v in local["cases"].items()}
    moved = {k: [a[2], b[2]] for k, (a, b) in cases.items() if a[2] != b[2]}
    return {"world": world, "n_images": local["n_images"], "preset": preset,
            "ray": {"num_cpus": options.num_cpus, "cpus_per_task": options.cpus_per_task},
            "inprocess_seconds": round(local["seconds"], 1), "ray_seconds": round(ray["seconds"], 1),
            "ratio": round(ray["seconds"] / local["seconds"], 3), "target_ratio": 1.15,
            "judge_seconds": {k: round(v["judge_seconds"], 1) for k, v in runs.items()},
            "request_seconds": {k: v["request_seconds"] for k, v in runs.items()},
            "cases_compared": len(cases),
            "verdicts_differ": sorted(k for k, (a, b) in cases.items() if a[0] != b[0]),
            "labels_differ": sorted(k for k, (a, b) in cases.items() if a[1] != b[1]),
            "statistics_moved": {"cases": len(moved), "largest": max(
                (abs(a - b) for a, b in moved.values() if a is not None and b is not None), default=0.0),
                "of": moved}, "stores": stores}
