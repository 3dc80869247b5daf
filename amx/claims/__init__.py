"""Claims as data (``amx.claims.spec``) and the registry of claim sets, one per paper.

``CLAIM_SETS`` holds amx's own (``001``: the main paper's P1-P12, ``amx.claims.paper``; ``002``:
SAM's S1-S8, ``amx.claims.sam``; ``003``: BIG's B1-B2, ``amx.claims.big``; ``004``: the sanity
checks' A1-A3, ``amx.claims.sanity``) and those
of other packages' ``amx.claims`` entry points. ``active(world)`` are the claim sets a claims run
regenerates on a world; ``cases(sets)`` their cases, in natural claim order.
"""

from __future__ import annotations

from amx.claims.spec import ClaimSet, claim_order
from amx.registry import Registry


def _unique_prefix(name: str, claim_set: ClaimSet) -> None:
    """Claim ids must stay unique across papers: one prefix per claim set."""
    for other_name, other in CLAIM_SETS.registered():
        if other.prefix == claim_set.prefix:
            raise ValueError(f"claim set {name!r}: prefix {claim_set.prefix!r} is already that of "
                             f"claim set {other_name!r}")


CLAIM_SETS: Registry[ClaimSet] = Registry("claim set", "amx.claims", ClaimSet, _unique_prefix)


def _register_builtin() -> None:
    from amx.claims import big, paper, sam, sanity

    for module in (paper, sam, big, sanity):
        CLAIM_SETS.register(module.CLAIM_SET.name, module.CLAIM_SET, source=module.__name__)


_register_builtin()


def active(world) -> list[ClaimSet]:
    """The claim sets a claims run regenerates on ``world`` (``World.claim_sets``; None: all)."""
    names = world.claim_sets if world.claim_sets is not None else CLAIM_SETS.names()
    return [CLAIM_SETS.get(n) for n in names]


def renderers() -> dict:
    """``{claim set: its render_figures}`` of the registered claim sets (the report draws their figures)."""
    return {name: cs.render_figures for name, cs in CLAIM_SETS.registered() if cs.render_figures is not None}


def cases(claim_sets: list[ClaimSet]) -> list:
    """Every case of ``claim_sets``, claim sets in the given order, claims in natural order."""
    out = []
    for claim_set in claim_sets:
        out += sorted(claim_set.cases(), key=lambda c: claim_order(c.claim))
    return out


__all__ = ["CLAIM_SETS", "ClaimSet", "active", "cases", "renderers"]
