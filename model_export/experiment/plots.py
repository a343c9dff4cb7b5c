"""The arms over time as a PNG: cumulative CTR per arm (top) and cumulative impressions per arm
(bottom) over the series' time buckets. ``cumulative`` is pure; ``plot_arms_over_time``
draws with matplotlib's Agg canvas (never pyplot: no global backend, no display).
"""

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

DPI = 120


def cumulative(series: pd.DataFrame) -> pd.DataFrame:
    """Per arm and bucket (time order): cumulative ``impressions`` and ``clicks`` and their
    ratio ``ctr`` (NaN until the arm's first impression), with ``time`` the bucket start as
    UTC datetime."""
    frame = series.sort_values(["arm", "bucket_start"]).copy()
    grouped = frame.groupby("arm", sort=False)
    frame["impressions"] = grouped["impressions"].cumsum()
    frame["clicks"] = grouped["clicks"].cumsum()
    imps = frame["impressions"].to_numpy(dtype=float)
    frame["ctr"] = np.divide(
        frame["clicks"].to_numpy(dtype=float), imps, out=np.full(len(frame), np.nan), where=imps > 0
    )
    frame["time"] = pd.to_datetime(frame["bucket_start"], unit="s", utc=True)
    return frame[["arm", "time", "impressions", "clicks", "ctr"]]


def plot_arms_over_time(series: pd.DataFrame, path: Path, arms: list[str] | None = None) -> Path:
    """Write the figure to ``path``; ``arms`` fixes the order (and colours) of the arms."""
    fig = Figure(figsize=(9, 6), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True)
    data = cumulative(series)
    order = arms or sorted(data["arm"].unique())
    for arm in order:
        rows = data[data["arm"] == arm]
        if rows.empty:
            continue
        top.plot(rows["time"], 100 * rows["ctr"], label=arm, drawstyle="steps-post")
        bottom.plot(rows["time"], rows["impressions"], label=arm, drawstyle="steps-post")
    if data.empty:
        top.text(0.5, 0.5, "no series counted", ha="center", va="center",
                 transform=top.transAxes)  # fmt: skip
    top.set_ylabel("cumulative CTR (%)")
    bottom.set_ylabel("cumulative impressions")
    bottom.set_xlabel("time bucket start (UTC)")
    top.set_title("Arms over time")
    if not data.empty:
        top.legend(loc="best")
    locator = AutoDateLocator()
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")
    return path
