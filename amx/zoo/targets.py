"""The quality bar a shipped zoo must clear, so that Table 1's pattern is there to regenerate.

These are stricter than P11's directions: they say the embedded zoo is *fit for purpose*
(accurate vanilla models, robust twins that are really robust and less confident, AdvProp models
that keep vanilla accuracy). ``amx zoo eval`` prints them; the test suite asserts them.
"""

from __future__ import annotations

from dataclasses import dataclass

VANILLA_MIN_TOP1 = 90.0
ROBUST_MIN_TOP1 = 70.0
ROBUST_MIN_PGD_TOP1 = 25.0
VANILLA_MAX_PGD_TOP1 = 5.0
ROBUST_MAX_CONFIDENCE_FRACTION = 0.65
ADVPROP_MAX_TOP1_GAP = 3.0

# (model, target) pairs the shipped zoo is known to miss, with the reason; the test suite checks
# that they still miss, so a retrained zoo that clears them asks for the entry to be removed.
KNOWN_MISSES: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class TargetResult:
    model: str
    target: str
    passed: bool
    value: str


def check_targets(rows: list[dict]) -> list[TargetResult]:
    """Every target for every model of a Table 1 (rows of ``amx.zoo.evaluate.evaluate_zoo``)."""
    vanilla = {r["architecture"]: r for r in rows if r["regime"] == "vanilla"}
    out = []
    for r in rows:
        name, twin = r["model"], vanilla.get(r["architecture"])
        if r["regime"] == "vanilla":
            out.append(TargetResult(name, f"top-1 >= {VANILLA_MIN_TOP1}",
                                    r["top1"] >= VANILLA_MIN_TOP1, f"{r['top1']:.2f}"))
            out.append(TargetResult(name, f"PGD top-1 < {VANILLA_MAX_PGD_TOP1}",
                                    r["pgd_top1"] < VANILLA_MAX_PGD_TOP1, f"{r['pgd_top1']:.2f}"))
            continue
        if twin is None:
            out.append(TargetResult(name, "has a vanilla twin in the table", False, "missing"))
            continue
        if r["regime"] == "pgd":
            fraction = r["confidence_mean"] / twin["confidence_mean"]
            out += [
                TargetResult(name, f"{ROBUST_MIN_TOP1} <= top-1 < vanilla's",
                             ROBUST_MIN_TOP1 <= r["top1"] < twin["top1"],
                             f"{r['top1']:.2f} vs {twin['top1']:.2f}"),
                TargetResult(name, f"PGD top-1 >= {ROBUST_MIN_PGD_TOP1}",
                             r["pgd_top1"] >= ROBUST_MIN_PGD_TOP1, f"{r['pgd_top1']:.2f}"),
                TargetResult(name, f"confidence <= {ROBUST_MAX_CONFIDENCE_FRACTION} x vanilla's",
                             fraction <= ROBUST_MAX_CONFIDENCE_FRACTION, f"{fraction:.3f}x"),
            ]
        else:  # AdvProp
            gap = r["top1"] - twin["top1"]
            out += [
                TargetResult(name, f"top-1 within {ADVPROP_MAX_TOP1_GAP} points of vanilla's",
                             abs(gap) <= ADVPROP_MAX_TOP1_GAP, f"{gap:+.2f}"),
                TargetResult(name, "PGD top-1 > vanilla's", r["pgd_top1"] > twin["pgd_top1"],
                             f"{r['pgd_top1']:.2f} vs {twin['pgd_top1']:.2f}"),
            ]
    return out


def format_targets(results: list[TargetResult]) -> str:
    failed = [t for t in results if not t.passed]
    lines = [f"zoo targets: {len(results) - len(failed)}/{len(results)} hold"]
    for t in failed:
        known = KNOWN_MISSES.get((t.model, t.target))
        lines.append(f"  FAILS {t.model}: {t.target} (got {t.value})"
                     + (f" -- known miss: {known}" if known else ""))
    return "\n".join(lines)
