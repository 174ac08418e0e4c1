"""``robo-orch tune --plot``: the optimisation history and the parameter importances.

The history is drawn here so a pruned trial (its value a partial mean) is marked as
such and never carries the best-so-far line; the importances are Optuna's
(``plot_param_importances``, fANOVA by default) over the full trials only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_history(study: Any, out: str | Path, objective: str, baseline: float) -> None:
    """Each trial's value (pruned ones marked), the baseline and the best full trial so far."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [t for t in study.trials if t.value is not None and not t.user_attrs.get("baseline")]
    full = [t for t in done if not t.user_attrs.get("pruned")]
    pruned = [t for t in done if t.user_attrs.get("pruned")]
    ok = [t for t in full if all(c <= 1e-9 for c in t.user_attrs.get("constraints", [0]))]
    bad = [t for t in full if t not in ok]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.axhline(baseline, color="tab:gray", ls="--", lw=1, label="baseline (the defaults)")
    ax.plot([t.number for t in ok], [t.value for t in ok], "o", color="tab:blue",
            label="full trial")
    if bad:
        ax.plot([t.number for t in bad], [t.value for t in bad], "s", color="tab:red",
                label="full trial, constraint broken")
    if pruned:
        ax.plot([t.number for t in pruned], [t.value for t in pruned], "x", color="tab:orange",
                label="pruned (partial mean)")
    best, xs, ys = baseline, [], []
    for t in sorted(ok, key=lambda t: t.number):
        best = min(best, t.value)
        xs.append(t.number)
        ys.append(best)
    if xs:
        ax.step(xs, ys, where="post", color="tab:green", label="best full trial so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{objective} (mean over instances)")
    ax.legend(fontsize=8)
    ax.set_title(f"{len(full)} full trials, {len(pruned)} pruned", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def plot_importances(study: Any, out: str | Path) -> bool:
    """Optuna's parameter importances over the full trials; False when there are too few."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as ovm

    full = [t for t in study.trials if t.value is not None and not t.user_attrs.get("pruned")]
    if len(full) < 3:
        return False
    only = optuna.create_study(direction="minimize")
    only.add_trials(full)
    try:
        ax = ovm.plot_param_importances(only)
    except (ValueError, RuntimeError):  # e.g. every full trial has the same value
        return False
    ax.figure.set_size_inches(8, 1.8 + 0.5 * len(full[0].params))
    ax.figure.tight_layout()
    ax.figure.savefig(out, dpi=90)
    plt.close(ax.figure)
    return True


__all__ = ["plot_history", "plot_importances"]
