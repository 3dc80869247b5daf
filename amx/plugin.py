"""The amx pytest plugin (entry point ``pytest11: amx``): options, markers, session fixtures.

A thin layer over one ``AmxSession`` kept in ``config.stash``:

* ``--gpu``: run models on CUDA; a usage error if torch sees no CUDA device;
* ``--world NAME``: the world to regenerate claims on (default: the embedded world ``mini``);
* ``--n-images N``: how many of the world's eval images the claims use.

The ``claims`` marker tags tests that regenerate a paper claim; select them with ``-m claims``.
Nothing is deselected by default: cheap claim tests also run in a plain ``pytest``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from amx.data.worlds import DEFAULT_WORLD, WORLDS, World, get_world

DEFAULT_N_IMAGES = 1000


@dataclass
class AmxSession:
    """What one pytest session regenerates on: world, device, image budget; verdicts collected."""

    world: World
    device: str
    n_images: int
    verdicts: list = field(default_factory=list)


session_key = pytest.StashKey[AmxSession]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("amx", "amx: regenerate explainability claims")
    group.addoption("--gpu", action="store_true", default=False,
                    help="run models on CUDA (fails if no CUDA device is available). Default: CPU.")
    group.addoption("--world", default=DEFAULT_WORLD, metavar="NAME",
                    help=f"world to evaluate on; one of {sorted(WORLDS)} (default: {DEFAULT_WORLD}).")
    group.addoption("--n-images", type=int, default=DEFAULT_N_IMAGES, metavar="N",
                    help=f"eval images used by claims (default: {DEFAULT_N_IMAGES}).")


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
    config.stash[session_key] = AmxSession(world=world, device=device, n_images=n_images)


def pytest_report_header(config: pytest.Config) -> str:
    s = config.stash[session_key]
    return f"amx: world={s.world.name} device={s.device} n_images={s.n_images}"


@pytest.fixture(scope="session")
def amx_session(pytestconfig: pytest.Config) -> AmxSession:
    """The session's world, device and image budget."""
    return pytestconfig.stash[session_key]


@pytest.fixture(scope="session")
def zoo_table(amx_session: AmxSession) -> list[dict]:
    """The regenerated Table 1 of the session's world (cached on disk by content)."""
    from amx.zoo.evaluate import evaluate_zoo

    return evaluate_zoo(amx_session.world, n_images=amx_session.n_images,
                        device=amx_session.device, log=lambda msg: None)
