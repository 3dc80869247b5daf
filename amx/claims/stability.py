"""Verdict stability: the share of bootstrap resamples of the images in which a case holds.

A claims run judges each case once, on one draw of images. To tell a verdict the evidence
carries from one a different draw could reverse, every case is re-judged on ``n_draws``
resamples of its images (``Case.resample``: the same statistic and rule, vectorised by
``amx.resampled``; nothing is recomputed). The share of resamples in which it holds labels the
verdict *stable* when the resamples agree with it (it holds and the share is >= ``high``, or it
fails and the share is <= ``low``), else *borderline*.

The resampling unit is the image, so everything measured on one image moves together: its maps
by every method, its scores by every metric and the vanilla and robust twins' scores on it (the
paired designs stay paired). Resamples are Poisson bootstraps (Hanley & MacGibbon 2006; Chamandy
et al. 2012): image ``i`` appears ``Poisson(1)`` times in resample ``b``, drawn from
``(seed, universe, i)``. For the hundreds of images of a run this behaves like the multinomial
bootstrap, and it gives an image the same weights in every case and claim set, whichever of the
run's images a case reads. The universes are the pool the ScoreTable and the collected evidence
index (``"pool"``) and Table 1's evaluation images (``"eval"``).

A runtime is measured once, on one machine, and another machine runs each method at a speed of
its own relative to the others' (its CPU's kernels, caches and vector units). A claim that reads
runtimes (``Claim.timed``: P7, in ``amx.claims.paper._median_runtimes``) multiplies, in each
resample, each method's runtime by a factor drawn from ``exp(N(0, RUNTIME_SPREAD))``
(``Draws.spread``), so a runtime verdict that another machine could reverse is labelled
borderline, not stable.

>>> draws = Draws(n_draws=4, seed=0)
>>> draws.weights([7, 7, 9]).shape
(4, 3)
>>> bool((draws.weights([7])[:, 0] == draws.weights([9, 7])[:, 1]).all())
True
>>> StabilityConfig().label(0.97, passed=True), StabilityConfig().label(0.97, passed=False)
('stable', 'borderline')
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

UNIVERSES = ("pool", "eval")
# The spread (sd of the log) of a method's runtime relative to the other methods' between two
# machines of the same kind. Measured: the same code's claims run on two 2-core EPYC VMs (at
# da370fe and dda1fc5), each method's log change of its median runtime less the median change of
# the nine: sd 0.063, at most 0.149 (EP: 142 -> 120 ms, while RISE went 128 -> 135 ms and turned
# "EP is the slowest" from 1.10 to 0.89). A spread of 0.1 per machine gives differences between two
# machines of sd 0.14, which covers EP's.
RUNTIME_SPREAD = 0.1


@dataclass(frozen=True)
class StabilityConfig:
    """``n_draws`` resamples; a verdict is stable when the resamples agree with it: it holds and
    the share of resamples in which its case holds is >= ``high``, or it fails and the share is
    <= ``low``. (They are drawn from the session's ``--seed``.)"""

    n_draws: int = 200
    high: float = 0.95
    low: float = 0.05

    def __post_init__(self):
        if self.n_draws < 1:
            raise ValueError(f"StabilityConfig: n_draws must be >= 1, got {self.n_draws}")
        if not 0.0 <= self.low < self.high <= 1.0:
            raise ValueError(f"StabilityConfig: need 0 <= low < high <= 1, got low={self.low}, "
                             f"high={self.high}")

    def agrees(self, share: float, passed: bool) -> bool:
        return share >= self.high if passed else share <= self.low

    def label(self, share: float, passed: bool) -> str:
        return "stable" if self.agrees(share, passed) else "borderline"


class Draws:
    """``n_draws`` Poisson-bootstrap resamples of images drawn from ``seed``, as count weights per
    image. ``rates``: a universe's Poisson rate other than 1 (``{"pool": 0.25}`` resamples a run of
    100 images per architecture as runs of 25: ``sample_sizes``). ``used``: the universes asked for."""

    def __init__(self, n_draws: int = 200, seed: int = 0, rates: dict[str, float] | None = None):
        self.n_draws, self.seed, self.rates = n_draws, seed, dict(rates or {})
        self._counts: dict[tuple[str, int], np.ndarray] = {}
        self.used: set[str] = set()

    def _count(self, universe: str, image: int) -> np.ndarray:
        key = (universe, image)
        if key not in self._counts:
            rng = np.random.default_rng([self.seed, UNIVERSES.index(universe), image])
            self._counts[key] = rng.poisson(self.rates.get(universe, 1.0), self.n_draws).astype(float)
        return self._counts[key]

    def weights(self, images, universe: str = "pool") -> np.ndarray:
        """``[n_draws, len(images)]``: how often each resample draws each value, given the image
        (index in ``universe``) it was measured on."""
        if universe not in UNIVERSES:
            raise ValueError(f"Draws: unknown universe {universe!r}; valid: {UNIVERSES}")
        self.used.add(universe)
        unique, inverse = np.unique(np.asarray(images, dtype=np.int64), return_inverse=True)
        if len(unique) == 0:
            return np.zeros((self.n_draws, 0))
        table = np.stack([self._count(universe, int(i)) for i in unique], axis=1)
        return table[:, inverse.ravel()]

    def spread(self, key: str, sigma: float = RUNTIME_SPREAD) -> np.ndarray:
        """``[n_draws]`` factors ``exp(sigma z)``, ``z`` standard normal drawn from ``(seed, key)``:
        how a quantity measured once on one machine (``key``: a method's runtime) could come out
        on another, the same for every case that reads it."""
        rng = np.random.default_rng([self.seed, len(UNIVERSES), zlib.crc32(key.encode())])
        return np.exp(sigma * rng.standard_normal(self.n_draws))


@dataclass(frozen=True)
class Stability:
    """A case's verdict stability: the ``share`` of ``n_draws`` resamples in which it holds and
    its ``label`` (``stable`` or ``borderline``)."""

    share: float
    n_draws: int
    label: str


def stability(case, evidence, draws: Draws, config: StabilityConfig, passed: bool) -> Stability | None:
    """How stable ``case``'s verdict (``passed``) on ``evidence`` is (None if the case has no
    ``resample``)."""
    if case.resample is None:
        return None
    holds = np.asarray(case.resample(evidence, draws), dtype=bool)
    if holds.shape != (draws.n_draws,):
        raise ValueError(f"{case.id}: resample returned shape {list(holds.shape)}, expected "
                         f"[{draws.n_draws}]")
    share = float(holds.mean())
    return Stability(share=share, n_draws=draws.n_draws, label=config.label(share, passed))


def sizes(n_images: int) -> list[int]:
    """The image budgets ``sample_sizes`` tries: 25, 50, 100, ... below ``n_images``, then it.

    >>> sizes(100), sizes(2000)
    ([25, 50, 100], [25, 50, 100, 200, 400, 800, 1600, 2000])
    """
    out, n = [], 25
    while n < n_images:
        out.append(n)
        n *= 2
    return out + [n_images]


def sample_sizes(judged: list[tuple], evidence, n_images: int, seed: int, config: StabilityConfig) -> dict:
    """How many images per architecture each verdict needs to be stable. ``judged``: ``(case,
    passed, share)`` of the run, which had ``n_images`` per architecture. For each smaller budget
    N of ``sizes``, the run's images are resampled at Poisson rate N / ``n_images`` (the
    m-out-of-n bootstrap: runs of N images), and each case's share of resamples in which it holds
    is taken; its smallest stable N is the smallest from which on, up to the run itself, its
    verdict keeps the run's side (share >= ``high`` if it passed, <= ``low`` if it failed); None
    if even the run is borderline. Cases that read no image of the pool (Table 1's) do not depend
    on the budget (``depends`` False). Pass only cases whose images follow ``--n-images`` (claim
    sets that read the ScoreTable without collecting their own)."""
    grid = sizes(n_images)
    draws = {n: Draws(config.n_draws, seed, {"pool": n / n_images}) for n in grid[:-1]}
    out = {}
    for case, passed, share in judged:
        shares, depends = {}, False
        for n, resamples in draws.items():
            resamples.used = set()
            try:
                shares[str(n)] = float(np.mean(case.resample(evidence, resamples)))
            except Exception:  # judged at the run's size (or not: the run reported why); not here
                break
            depends = depends or "pool" in resamples.used
        if len(shares) < len(draws):
            continue
        shares[str(n_images)] = share
        keeps = [config.agrees(s, passed) for s in shares.values()]
        smallest = None
        for k in range(len(grid) - 1, -1, -1):
            if not keeps[k]:
                break
            smallest = grid[k]
        out[case.id] = {"shares": shares, "smallest_stable": smallest, "depends": depends}
    return {"sizes": grid, "n_images": n_images, "cases": out}
