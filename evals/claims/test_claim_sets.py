"""Every registered claim set's claims (the main paper's P1-P12, and those of any installed
``amx.claims`` entry point) as parametrised cases, e.g. ``test_claim[P1[gradient-wsl-pooled]]``.
Statements, statistics, thresholds and the paper's values are data in ``amx.claims``; each case's
verdict is judged (and compared with ``--baseline``) by the session, which also puts it in the
report."""

from amx.claims.suite import test_claim  # noqa: F401
