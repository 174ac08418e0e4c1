"""Per-set statistics and paired comparisons of runs on the same (scenario, seed) instances.

A *run record* is the ``scenario`` job's record (:func:`~robo_orch.missions.scenarios.
scenario_job`): ``success``, ``goal_reached``, ``time_to_goal_s``, ``path_ratio``,
``min_clearance_m``, ``collisions``, ``safety_stops``, ``trace_sha256``.  Two parameter
sets compared here ran on the same instances, so the tests are paired:

* success: McNemar's test, exact (a two-sided binomial test on the discordant pairs);
* time to goal: the Wilcoxon signed-rank test over the instances both sets completed;
* when every instance gave the bit-identical run (equal ``trace_sha256``), or the same
  success and time on every instance, the verdict is "no measurable difference" and no
  test is run (the signed-rank test is undefined on all-zero differences).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: the significance level the verdicts use
ALPHA = 0.05


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (None when there are no values; std 0 for one)."""
    if not values:
        return None, None
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(var)


def set_metrics(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One parameter set's figures over its runs (JSON-ready, rounded)."""
    ok = [r for r in runs if r.get("success")]
    reached = [r for r in runs if r.get("goal_reached")]
    times = [r["time_to_goal_s"] for r in reached if r.get("time_to_goal_s") is not None]
    ratios = [r["path_ratio"] for r in reached if r.get("path_ratio") is not None]
    clear = [r["min_clearance_m"] for r in runs if r.get("min_clearance_m") is not None]
    stops = [r["safety_stops"] for r in runs if r.get("safety_stops") is not None]
    t_mean, t_std = mean_std(times)
    p_mean, p_std = mean_std(ratios)
    c_mean, _ = mean_std(clear)
    return {
        "runs": len(runs), "successes": len(ok),
        "success_rate": round(len(ok) / len(runs), 4) if runs else 0.0,
        "faults": sum(bool(r.get("fault")) for r in runs),
        "time_to_goal_s": _r(t_mean), "time_to_goal_std_s": _r(t_std),
        "path_ratio": _r(p_mean), "path_ratio_std": _r(p_std),
        "min_clearance_m": _r(min(clear)) if clear else None,
        "mean_min_clearance_m": _r(c_mean),
        "contacts": sum(int(r.get("collisions") or 0) for r in runs),
        "runs_with_contact": sum(bool(r.get("collisions")) for r in runs),
        "safety_stops": sum(int(s) for s in stops),
    }


def mcnemar_exact(base: Sequence[bool], other: Sequence[bool]) -> dict[str, Any]:
    """McNemar's exact test on paired successes: ``lost`` (base ok, other not), ``won``
    (the reverse) and the two-sided p-value (1.0 without discordant pairs)."""
    from scipy.stats import binomtest

    lost = sum(1 for a, b in zip(base, other, strict=True) if a and not b)
    won = sum(1 for a, b in zip(base, other, strict=True) if b and not a)
    p = 1.0 if lost + won == 0 else float(binomtest(won, lost + won, 0.5).pvalue)
    return {"lost": lost, "won": won, "p": _sig(p)}


def wilcoxon_paired(base: Sequence[float], other: Sequence[float]) -> dict[str, Any]:
    """The Wilcoxon signed-rank test of ``other - base`` (paired values): the number of
    pairs, the median and mean difference, and the two-sided p-value (None when every
    difference is zero: the test is undefined there)."""
    from scipy.stats import wilcoxon

    diffs = [b - a for a, b in zip(base, other, strict=True)]
    out: dict[str, Any] = {"pairs": len(diffs), "median_diff": None, "mean_diff": None,
                           "p": None}
    if not diffs:
        return out
    ordered = sorted(diffs)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    out["median_diff"] = _r(median)
    out["mean_diff"] = _r(sum(diffs) / len(diffs))
    if any(d != 0 for d in diffs):
        out["p"] = _sig(float(wilcoxon(diffs, zero_method="wilcox").pvalue))
    return out


def compare(base: Sequence[dict[str, Any]], other: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Paired comparison of two sets' runs on the same instances (same order): identical
    runs, McNemar on success, Wilcoxon on time to goal, and a one-line verdict."""
    if len(base) != len(other):
        raise ValueError("paired comparison needs the same instances in both sets")
    identical = all(a.get("trace_sha256") is not None
                    and a.get("trace_sha256") == b.get("trace_sha256")
                    for a, b in zip(base, other, strict=True))
    both = [(a["time_to_goal_s"], b["time_to_goal_s"]) for a, b in zip(base, other, strict=True)
            if a.get("goal_reached") and b.get("goal_reached")
            and a.get("time_to_goal_s") is not None and b.get("time_to_goal_s") is not None]
    success = mcnemar_exact([bool(a.get("success")) for a in base],
                            [bool(b.get("success")) for b in other])
    times = wilcoxon_paired([a for a, _ in both], [b for _, b in both])
    same = identical or (success["lost"] == success["won"] == 0
                         and all(a == b for a, b in both))
    return {"identical_runs": identical, "no_difference": same, "success": success,
            "time_to_goal": times, "verdict": verdict(same, identical, success, times)}


def verdict(same: bool, identical: bool, success: dict[str, Any],
            times: dict[str, Any]) -> str:
    """The comparison in words."""
    if identical:
        return "no measurable difference (bit-identical runs)"
    if same:
        return "no measurable difference (same success and time on every instance)"
    parts = []
    if success["lost"] or success["won"]:
        sig = "significant" if success["p"] < ALPHA else "not significant"
        parts.append(f"success +{success['won']}/-{success['lost']} "
                     f"(McNemar p={success['p']:.3g}, {sig})")
    if times["p"] is not None:
        sig = "significant" if times["p"] < ALPHA else "not significant"
        parts.append(f"time {times['median_diff']:+.2f} s median over {times['pairs']} "
                     f"(Wilcoxon p={times['p']:.3g}, {sig})")
    elif times["pairs"]:
        parts.append(f"same time on the {times['pairs']} runs both completed")
    return "; ".join(parts) or "no runs to compare"


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)




def _sig(p: float) -> float:
    """A p-value to 4 significant digits."""
    return float(f"{p:.4g}")


__all__ = ["ALPHA", "compare", "mcnemar_exact", "mean_std", "set_metrics", "verdict",
           "wilcoxon_paired"]
