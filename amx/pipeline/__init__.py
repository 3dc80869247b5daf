"""The claims pipeline: world -> subset -> maps -> scores -> ScoreTable, cached by content.

``run(RunConfig(...))`` returns a ``RunResult`` holding the ScoreTable (``amx.pipeline.table``);
the cache is ``amx.pipeline.store``; the image subsets (random, CL) are ``amx.pipeline.subsets``.
"""

from amx.pipeline.run import RunConfig, RunResult, Stage, StoredMaps, run
from amx.pipeline.table import load_table, save_table, table_columns

__all__ = ["RunConfig", "RunResult", "Stage", "StoredMaps", "load_table", "run", "save_table",
           "table_columns"]
