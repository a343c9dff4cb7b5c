"""Predicted against true uplift of the scored variants of one or more ``adrank copy --truth``
runs: a scatter PNG (one colour per run, the chosen variants ringed) and, per run, the rank
correlation of the two and how often a chosen variant truly beats its original.

    python -m model_export.copy.uplift_plot reports/copy/shipped.json reports/copy/tuned.json \
        --out docs/copy_uplift.png
"""

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr


def uplifts(run: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(predicted, true, chosen) over every kept variant of a run's ads that has a truth."""
    rows = [(v["uplift"], v["true_uplift"], i == ad.get("chosen"))
            for ad in run["ads"] for i, v in enumerate(ad["kept"])
            if v.get("true_uplift") is not None]  # fmt: skip
    if not rows:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool)
    predicted, true, chosen = map(np.array, zip(*rows, strict=True))
    return predicted, true, chosen.astype(bool)


def summary(name: str, predicted: np.ndarray, true: np.ndarray, chosen: np.ndarray) -> str:
    rho = spearmanr(predicted, true).statistic if len(true) > 2 else float("nan")
    picked = true[chosen]
    wins = float(np.mean(picked > 0)) if picked.size else float("nan")
    mean = float(np.mean(picked)) if picked.size else float("nan")
    return (
        f"{name}: {len(true)} scored variants, Spearman(predicted, true) {rho:+.3f}; "
        f"{picked.size} chosen, {wins:.0%} of them truly better than the original, "
        f"mean true uplift of the chosen {mean:+.1%}"
    )


def plot(runs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    for i, (name, (predicted, true, chosen)) in enumerate(runs.items()):
        color = f"C{i}"  # the colour cycle's i-th: a run's dots and its rings alike
        ax.scatter(predicted * 100, true * 100, s=12, alpha=0.6, label=name, color=color)
        ax.scatter(predicted[chosen] * 100, true[chosen] * 100, s=40, facecolors="none",
                   edgecolors=color)  # fmt: skip
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("predicted uplift over the original (%)")
    ax.set_ylabel("true uplift (synthetic truth, %)")
    ax.set_title("Variants: the click model against the truth (ringed: chosen)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="JSON files of adrank copy --truth")
    parser.add_argument("--out", type=Path, required=True, help="the PNG")
    args = parser.parse_args()
    runs = {path.stem: uplifts(json.loads(path.read_text())) for path in args.runs}
    for name, values in runs.items():
        print(summary(name, *values))
    plot(runs, args.out)


if __name__ == "__main__":
    main()
