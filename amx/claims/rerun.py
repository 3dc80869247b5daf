"""Rerun the claims in a subprocess, as a user would (``pytest --pyargs amx.claims.suite -m claims``):
once per seed (``amx.claims.seeds``) or per CPU kernel path (``amx.claims.kernel_paths``, which
needs a process of its own: ATen reads its kernel path when torch is imported)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def claims_run(what: str, report_dir: Path, options: list[str], env: dict | None = None) -> Path:
    """Run the claims with ``options`` (plugin options such as ``--seed``) writing to ``report_dir``;
    the path of its ``results.json``. ``what`` names the run in messages. A session that could not
    judge (a usage or internal error, no cases) is an error naming ``what``."""
    command = [sys.executable, "-m", "pytest", "--pyargs", "amx.claims.suite", "-m", "claims", "-q",
               "-p", "no:cacheprovider", "--report-dir", str(report_dir), *options]
    print(f"amx stability: {what}: {' '.join(command[1:])}", flush=True)
    code = subprocess.run(command, check=False, env=env).returncode
    if code not in (0, 1):  # 1: some claims fail, which is a verdict, not an error
        raise RuntimeError(f"amx stability: the claims run with {what} ended with pytest exit code {code} "
                           "(usage or internal error, or no claim cases collected); its output is above")
    return Path(report_dir) / "results.json"
