"""amx's own worlds, each a data set (``amx.data``) joined with its zoo (``amx.zoo``) and the
protocol to regenerate claims there; registered through the ``amx.worlds`` entry points
(``pyproject.toml``), as another package's worlds are. ``World`` and the registry:
``amx.data.worlds``."""
