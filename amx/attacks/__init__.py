"""Adversarial attacks: PGD (``amx.attacks.pgd``), used by adversarial training and Table 1, and
the decision-boundary search of BIG (``amx.attacks.boundary``), used by BIG's attributions and the
alignment claim B1.
"""

from amx.attacks.pgd import PGDConfig, pgd, uniform_l2_ball

__all__ = ["PGDConfig", "pgd", "uniform_l2_ball"]
