"""The benchmark's results and how they are shown: Markdown tables and a latency plot.

Everything here is pure (numbers in, text out) except ``plot``, which writes a PNG.
"""

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BARE = "bare"  # the bare FastAPI endpoint in one process; "bare-2w" in two


def is_bare(variant: str) -> bool:
    """A bare-endpoint variant (the framework's ceiling), not the service."""
    return variant.startswith(BARE)

STAGE_KEYS = ("total_ms", "redis_ms", "queue_ms", "score_ms", "encode_ms", "batch_size")


@dataclass
class Point:
    """One measurement: a variant under a closed (clients) or open (offered rate) load."""

    variant: str
    mode: str  # "closed" or "open"
    load: float  # clients, or offered requests/s
    rps: float  # answered 200 per second
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    stages: dict[str, float] = field(default_factory=dict)  # server-reported medians
    worker_cpu: list[float] = field(default_factory=list)  # CPU share per worker process
    saturated: bool = False
    sent_rps: float = 0.0  # open loop: requests actually scheduled per second (Poisson)
    cpu_ms: float = math.nan  # CPU time of the serving processes per answered request

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class EncoderPoint:
    path: str  # "onnxruntime" or "PUT /ads"
    clients: int
    texts: int
    seconds: float
    batch: int

    @property
    def rate(self) -> float:
        return self.texts / self.seconds if self.seconds else 0.0


def saturated(sent: float, achieved: float, errors: int, answered: int) -> bool:
    """Past saturation: under 90% of the rate sent delivered (answers fell behind the
    arrivals), or over 1% errors."""
    total = errors + answered
    return achieved < 0.9 * sent or (total > 0 and errors / total > 0.01)


def cpu_shares(before: dict[int, float], after: dict[int, float]) -> list[float]:
    """Each worker's share of the CPU time the workers used between two readings, largest
    first (an even split of two workers is [0.5, 0.5]; all on one is [1.0, 0.0])."""
    used = [max(0.0, after[pid] - before.get(pid, 0.0)) for pid in after]
    total = sum(used)
    return sorted((u / total for u in used), reverse=True) if total > 0 else []


def stage_medians(metrics: Iterable[dict[str, float]]) -> dict[str, float]:
    rows = list(metrics)
    if not rows:
        return {}
    return {k: float(np.median([m[k] for m in rows])) for k in STAGE_KEYS if k in rows[0]}


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; columns that hold only numbers (or nothing) are right-aligned."""
    align = ["---:" if all(_numeric(r[i]) for r in rows) and rows else "---"
             for i in range(len(headers))]  # fmt: skip
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _numeric(cell: str) -> bool:
    stripped = cell.replace(",", "").replace("%", "").replace("/", "").strip()
    return stripped == "" or stripped.replace(".", "", 1).lstrip("-").isdigit() or cell == "–"


def num(x: float, digits: int = 0) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:,.{digits}f}"


def split_text(shares: Sequence[float]) -> str:
    return "/".join(f"{s:.0%}" for s in shares)


def closed_loop_table(points: Sequence[Point]) -> str:
    bare = {p.load: p.rps for p in points if p.mode == "closed" and p.variant == BARE}
    rows = []
    for p in sorted((p for p in points if p.mode == "closed"), key=lambda p: p.load):
        ratio = f"{p.rps / bare[p.load]:.0%}" if p.variant != BARE and bare.get(p.load) else ""
        rows.append([num(p.load), p.variant, num(p.rps), num(p.p50_ms, 2), num(p.p95_ms, 2),
                     num(p.p99_ms, 2), str(p.errors), ratio, num(p.cpu_ms, 2),
                     split_text(p.worker_cpu)])  # fmt: skip
    headers = ["clients", "variant", "requests/s", "p50 ms", "p95 ms", "p99 ms", "errors",
               "vs bare", "server CPU ms/request", "worker CPU split"]  # fmt: skip
    return markdown_table(headers, rows)


def open_loop_table(points: Sequence[Point]) -> str:
    rows = []
    for p in sorted((p for p in points if p.mode == "open"), key=lambda p: p.load):
        rows.append([num(p.load), p.variant, num(p.sent_rps), num(p.rps), num(p.p50_ms, 2),
                     num(p.p95_ms, 2), num(p.p99_ms, 2), str(p.errors), split_text(p.worker_cpu),
                     "saturated" if p.saturated else ""])  # fmt: skip
    headers = ["offered/s", "variant", "sent/s", "achieved/s", "p50 ms", "p95 ms", "p99 ms",
               "errors", "worker CPU split", "note"]  # fmt: skip
    return markdown_table(headers, rows)


def stages_table(points: Sequence[Point]) -> str:
    rows = [[p.variant, num(p.load)] + [num(p.stages.get(k, math.nan), 2) for k in STAGE_KEYS]
            for p in points if p.mode == "closed" and p.stages]  # fmt: skip
    return markdown_table(["variant", "clients", *STAGE_KEYS], rows)


def encoder_table(points: Sequence[EncoderPoint]) -> str:
    raw = max((p.rate for p in points if p.path == "onnxruntime"), default=0.0)
    rows = [[p.path, str(p.clients), str(p.batch), num(p.rate),
             num(p.seconds / (p.texts / p.batch) * 1000, 1) if p.texts else "–",
             f"{p.rate / raw:.0%}" if raw else ""] for p in points]  # fmt: skip
    return markdown_table(["path", "clients", "ads per call", "new ads/s", "ms per call",
                           "vs onnxruntime"], rows)  # fmt: skip


def best_rps(points: Sequence[Point], variant: str) -> float:
    return max((p.rps for p in points if p.variant == variant), default=0.0)


def workers_note(points: Sequence[Point]) -> str:
    """Two /rank workers on SO_REUSEPORT sockets against two on one shared socket, at the highest
    concurrency (one client's connection can only ever reach one worker): requests/s and how
    the workers' CPU time split."""
    closed = [p for p in points
              if p.mode == "closed" and p.worker_cpu and not is_bare(p.variant)]  # fmt: skip
    if not closed:
        return ""
    top = max(p.load for p in closed)
    parts = [f"`{p.variant}` {num(p.rps)} requests/s, worker CPU split {split_text(p.worker_cpu)}"
             for p in closed if p.load == top]  # fmt: skip
    one = next((p for p in points if p.mode == "closed" and p.load == top
                and p.variant == "rank"), None)  # fmt: skip
    base = f" (one worker: {num(one.rps)} requests/s)" if one else ""
    return f"At {num(top)} clients: " + "; ".join(parts) + base + "."


def render_markdown(meta: dict[str, Any], points: Sequence[Point],
                    encoder: Sequence[EncoderPoint]) -> str:  # fmt: skip
    """The whole report: what ran where, then one table per part of the matrix."""
    args = meta["args"]
    return "\n\n".join([
        f"# adrank benchmark, {meta['date']}",
        f"Bundle `{meta['bundle']}`, {os.cpu_count()} cores, load average {meta['load_before']} "
        f"before and {meta['load_after']} after; {meta['wall_s'] / 60:.1f} min in all "
        f"(seeding {meta['seed_s']:.0f} s). /rank with {args['candidates']} candidates with "
        f"bids, all known ads, deadline {args['timeout_ms']} ms. Requests/s counts 200 answers; "
        "latencies are of 200 answers.",
        f"## Fixed concurrency (closed loop, {args['rounds']} × {args['seconds']} s, "
        "alternating)", closed_loop_table(points),
        f"## Open loop (Poisson arrivals, {args['open_seconds']} s per rate, latency from the "
        "scheduled send)", open_loop_table(points),
        "## Server-reported stages (medians of the closed-loop answers)", stages_table(points),
        "## Workers", workers_note(points) or "(not measured)",
        f"## Encoder path (new ads, {args['encoder_batch']} per call)", encoder_table(encoder),
        "![latency against throughput](latency_vs_throughput.png)",
    ]) + "\n"  # fmt: skip


def plot(points: Sequence[Point], path: Path) -> None:
    """p50 (solid) and p99 (dashed) latency against achieved requests/s, a colour per
    variant; open loop (Poisson rates) as lines with dots, closed loop (clients) as squares."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(9, 5.5))
    handles = []
    for i, variant in enumerate(sorted({p.variant for p in points})):
        color = f"C{i}"
        handles.append(Line2D([], [], color=color, label=variant))
        for mode, marker in (("open", "o"), ("closed", "s")):
            pts = sorted((p for p in points if p.variant == variant and p.mode == mode),
                         key=lambda p: p.rps)  # fmt: skip
            line = "" if mode == "closed" else "-"
            x = [p.rps for p in pts]
            ax.plot(x, [p.p50_ms for p in pts], marker + line, color=color, ms=4)
            ax.plot(x, [p.p99_ms for p in pts], marker + line.replace("-", "--"), color=color,
                    ms=4, alpha=0.5, mfc="none")  # fmt: skip
    handles += [Line2D([], [], color="k", ls="-", label="p50"),
                Line2D([], [], color="k", ls="--", alpha=0.5, label="p99"),
                Line2D([], [], color="k", ls="", marker="o", label="Poisson rates"),
                Line2D([], [], color="k", ls="", marker="s", label="1/16/64 clients")]  # fmt: skip
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="achieved requests/s (200 answers)",
        ylabel="latency, ms",
        title="/rank, 100 candidates: latency against throughput",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(handles=handles, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
