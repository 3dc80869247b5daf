"""The claims pipeline: world -> subset -> maps -> scores -> ScoreTable, cached by content.

``run(RunConfig(...))`` returns the ScoreTable (``amx.pipeline.table``); the cache is
``amx.pipeline.store``; the image subsets (random, CL) are ``amx.pipeline.subsets``.
"""

from amx.pipeline.run import PAPER_METHODS, PAPER_METRICS, RunConfig, run
from amx.pipeline.table import COLUMNS, SCORES, load_table, save_table

__all__ = ["COLUMNS", "PAPER_METHODS", "PAPER_METRICS", "SCORES", "RunConfig", "load_table", "run",
           "save_table"]
