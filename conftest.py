"""Test-suite wiring only. The amx plugin itself (options --gpu/--world/--n-images, the
``claims`` marker, session fixtures) is registered through the ``pytest11`` entry point in
pyproject.toml; here we only add pytester and the hypothesis settings profiles."""

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["pytester"]

settings.register_profile("dev", max_examples=25, deadline=None)
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
