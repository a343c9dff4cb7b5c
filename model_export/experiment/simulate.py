"""`adrank simulate`'s driver: the synthetic platform's traffic against a running service, and
the experiment report checked against the known truth (docs/experiments.md).

One repetition:

1. a fresh experiment: ``GET /admin/arms``, a new ``name`` and ``salt``, ``PUT /admin/arms``
   (the arms, weights and bundles stay as they are; ``keep_experiment`` skips this and reads
   the running one: its earlier counts then enter the report);
2. open-loop traffic: requests go out at Poisson arrival times of ``rate`` per second (at most
   ``requests`` of them, for at most ``seconds``), at most ``concurrency`` in flight (a send
   that waits for a free slot is late, and counted); each /rank answer's ``arm`` and its
   ranked ads are kept;
3. outcomes: every ``flush_s`` the answers so far go through the outcome model
   (``traffic.Traffic.outcomes``: the true pCTR/pCVR of the shown ads, one truth call, in a
   thread) and their impressions, clicks and conversions (with ``user_id``, ``ts`` and
   ``revenue``) are posted to /events in batches of ``outcome_batch``;
4. after ``settle_s`` (the service writes its counts in batches), ``report_experiment`` reads
   the counts from Redis; its CTR lift of each arm against the control, with its confidence
   interval, is set beside the truth: the arm's expected CTR (the mean true pCTR of what it
   showed) and the true relative lift; the interval *covers* when it holds the true lift.

Outcome timestamps are the wall clock of their posting (the service's time, which its series
buckets read); the requests' own times are the world's (its last days), which only the truth
and the request context read.

With ``repeat`` M the repetitions run one after the other, each with its own salt (a new split
of users), experiment name and requests. The summary gives the share of repetitions whose
report called a CTR difference significant at ``alpha``, with its binomial (Clopper-Pearson
95%) interval: for an A/A experiment (every arm serves the same bundle or blend) the false
positive rate, which should be near ``alpha``; for A/B the power at the true lift; and per
metric the share of intervals that covered the true lift (at least 1 - ``alpha``: see
``traffic``). Written to ``out``: ``summary.json``, ``summary.md`` and one ``rep-<k>/`` per
repetition (the report's files and the truth table, ``truth.csv``).

Loopback only: the driver refuses a URL whose host is not 127.0.0.1, localhost or ::1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import orjson
import pandas as pd

from model_export.experiment.traffic import (
    METRICS,
    Answer,
    Ledger,
    Traffic,
    TrafficOptions,
    outcome_records,
    poisson_arrivals,
    smallest_detectable_lift,
)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
LATE_S = 0.1  # a send this much after its scheduled time is late
SIGNIFICANCE_CI = 0.95  # confidence of the binomial intervals of the summary's shares
PRIMARY = "ctr"  # the metric whose significance a repetition's verdict is
ReportFn = Callable[..., Any]


def check_loopback(url: str) -> str:
    """``url`` without a trailing slash, if it is http(s) on a loopback host; else ValueError
    (the simulator floods a service with fake traffic: never a shared one)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{url!r}: expected an http:// or https:// URL")
    host = (parts.hostname or "").lower()
    if host not in LOOPBACK_HOSTS:
        hosts = ", ".join(sorted(LOOPBACK_HOSTS))
        raise ValueError(f"{url!r}: the simulator drives loopback services only ({hosts}), "
                         f"not {host or 'no host'}")  # fmt: skip
    return url.rstrip("/")


@dataclass(frozen=True)
class SimulateOptions:
    url: str
    data: Path  # a synthetic data directory with synth_config.json
    redis_url: str  # the service's Redis: the report reads the counts there
    requests: int | None = None
    rate: float = 50.0  # requests per second (Poisson)
    seconds: float | None = None
    traffic: TrafficOptions = field(default_factory=TrafficOptions)
    repeat: int = 1
    prefix: str = "adrank:"  # the service's redis.key_prefix
    admin_key: str | None = None
    api_key: str | None = None
    seed: int = 0
    out: Path = Path("reports/simulate")
    alpha: float = 0.05
    concurrency: int = 32
    outcome_batch: int = 500
    flush_s: float = 0.5
    settle_s: float = 1.0
    timeout_s: float = 10.0
    keep_experiment: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        check_loopback(self.url)
        if self.requests is None and self.seconds is None:
            raise ValueError("give requests, seconds or both")
        if self.repeat < 1 or self.concurrency < 1 or self.outcome_batch < 1:
            raise ValueError("repeat, concurrency and outcome_batch must be at least 1")
        if self.keep_experiment and self.repeat > 1:
            raise ValueError("repetitions need a fresh experiment each: not with keep_experiment")


# ---------------------------------------------------------------- the experiment's settings


def fresh_experiment(current: Mapping[str, Any], name: str, salt: str) -> dict[str, Any]:
    """The body of a ``PUT /admin/arms`` that keeps ``current`` (a ``GET``'s answer) but for
    a new ``name`` and ``salt`` (what ``GET`` adds, the arms' ``versions``, is left out)."""
    body = {k: v for k, v in current.items() if k != "versions"}
    body["arms"] = [{k: v for k, v in arm.items() if k != "versions"}
                    for arm in current.get("arms", [])]  # fmt: skip
    return body | {"name": name, "salt": salt}


def arm_names(experiment: Mapping[str, Any]) -> list[str]:
    return [a["name"] for a in experiment.get("arms") or []] or ["default"]


def control_of(experiment: Mapping[str, Any]) -> str:
    return experiment.get("control") or arm_names(experiment)[0]


def identical_arms(experiment: Mapping[str, Any]) -> bool:
    """Whether every arm serves the same model (an A/A experiment: the population's true lift
    is 0): the same ``bundle_path`` or ``blend``, and the same ``versions`` where the ``GET``
    answer gives them (a version alone is no proof: two builds may share one)."""
    arms = experiment.get("arms") or []
    if len(arms) < 2:
        return False
    sources = {json.dumps([a.get("bundle_path"), a.get("blend") or []], sort_keys=True)
               for a in arms}  # fmt: skip
    versions = {tuple(a.get("versions") or ()) for a in arms}
    return len(sources) == 1 and len(versions) == 1


# ---------------------------------------------------------------- the report's verdict


@dataclass(frozen=True)
class Verdict:
    """The report's comparison of one arm with the control on one metric, beside the truth."""

    arm: str
    metric: str  # ctr, cvr or rpm (traffic.METRICS)
    estimate: float  # relative lift
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool
    true_lift: float  # NaN where the truth has none (e.g. a control without conversions)
    covered: bool | None  # None without a true lift or without an interval


def verdicts(lifts: Mapping[str, Mapping[str, Mapping[str, Any]]], truth: pd.DataFrame,
             alpha: float) -> list[Verdict]:  # fmt: skip
    """Per non-control arm and metric of ``lifts`` (``report_lifts``): the report's relative
    lift and interval, and whether the interval holds the true lift (``truth``:
    ``Ledger.truth_table``)."""
    out = []
    for arm, metrics in lifts.items():
        for metric, lift in metrics.items():
            column = f"true_lift_{metric}"
            known = arm in truth.index and column in truth.columns
            true = float(truth.loc[arm, column]) if known else math.nan
            low, high = float(lift["ci_low"]), float(lift["ci_high"])
            p = float(lift["p_value"])
            significant = bool(lift.get("significant", p < alpha))
            checkable = math.isfinite(true) and math.isfinite(low) and math.isfinite(high)
            covered = bool(low <= true <= high) if checkable else None
            out.append(Verdict(arm, metric, float(lift["estimate"]), low, high, p, significant,
                               true, covered))  # fmt: skip
    return out


def report_lifts(report: Any, control: str) -> dict[str, dict[str, dict[str, Any]]]:
    """From an ``ExperimentReport`` (or the ``results.Analysis`` it holds as ``analysis``):
    per non-control arm and metric (``METRICS``) the relative lift against ``control``:
    ``estimate``, ``ci_low``, ``ci_high``, ``p_value``, ``significant``."""
    analysis = getattr(report, "analysis", report)
    comparisons = getattr(analysis, "comparisons", None)
    if comparisons is None:
        raise TypeError(f"{type(report).__name__} has no comparisons the simulator can read")
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for comparison in comparisons:
        if comparison.arm == control:
            continue
        found = out.setdefault(comparison.arm, {})
        for metric in METRICS:
            d = comparison.differences.get(metric)
            if d is None:
                continue
            found[metric] = {"estimate": d.lift.value, "ci_low": d.lift.low,
                             "ci_high": d.lift.high, "p_value": d.pvalue,
                             "significant": d.significant}  # fmt: skip
    return out


def share_interval(successes: int, trials: int) -> dict[str, float]:
    """A share and its Clopper-Pearson interval (scipy's ``binomtest``)."""
    from scipy.stats import binomtest

    if trials == 0:
        return {"share": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": 0}
    ci = binomtest(successes, trials).proportion_ci(SIGNIFICANCE_CI, method="exact")
    return {"share": successes / trials, "ci_low": float(ci.low), "ci_high": float(ci.high),
            "n": trials}  # fmt: skip


# ---------------------------------------------------------------- one repetition


@dataclass
class DriveStats:
    scheduled: int = 0
    answered: int = 0
    late: int = 0
    max_lag_s: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    without_arm: int = 0
    outcomes_posted: int = 0
    outcomes_counted: int = 0  # the /events answers' ``outcomes``
    attributed: int = 0  # the /events answers' ``attributed`` (where given)
    outcome_errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    latencies_s: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        lat = np.asarray(self.latencies_s) * 1000
        p50, p99 = np.percentile(lat, [50, 99]).tolist() if len(lat) else [math.nan] * 2
        out = {k: v for k, v in asdict(self).items() if k != "latencies_s"}
        rps = self.answered / self.seconds if self.seconds else math.nan
        return out | {"errors": dict(self.errors), "outcome_errors": dict(self.outcome_errors),
                      "p50_ms": p50, "p99_ms": p99, "rps": rps}  # fmt: skip


@dataclass
class Repetition:
    index: int
    name: str
    salt: str
    arms: list[str]
    control: str
    identical_arms: bool
    stats: DriveStats
    truth: pd.DataFrame
    verdicts: list[Verdict]
    detectable_lift: dict[str, float]
    report_error: str | None = None
    report_text: str | None = None  # the report's Markdown
    srm_pvalue: float | None = None  # the report's sample-ratio check over the arms
    report_detectable_lift: dict[str, float] = field(default_factory=dict)

    @property
    def significant(self) -> bool | None:
        """Whether the report called a CTR difference (the primary metric) of any arm
        significant; None when it gave no CTR comparison."""
        ctr = [v for v in self.verdicts if v.metric == PRIMARY]
        return any(v.significant for v in ctr) if ctr else None

    def as_dict(self) -> dict[str, Any]:
        truth = json.loads(self.truth.to_json(orient="index")) if not self.truth.empty else {}
        return {"index": self.index, "name": self.name, "salt": self.salt, "arms": self.arms,
                "control": self.control, "identical_arms": self.identical_arms,
                "stats": self.stats.as_dict(), "truth": truth,
                "verdicts": [asdict(v) for v in self.verdicts],
                "significant": self.significant,
                "smallest_detectable_lift": self.detectable_lift,
                "report_error": self.report_error, "report": self.report_text,
                "srm_pvalue": self.srm_pvalue,
                "report_detectable_lift": self.report_detectable_lift}  # fmt: skip


class Driver:
    """One service, one world's traffic, repetitions one after the other."""

    def __init__(
        self,
        options: SimulateOptions,
        traffic: Traffic,
        report_fn: ReportFn | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.options, self.traffic = options, traffic
        self.report_fn = report_fn
        self.transport = transport
        self.token = secrets.token_hex(3)
        self._arrivals = np.random.default_rng(np.random.SeedSequence(options.seed).spawn(3)[2])

    def headers(self, admin: bool = False) -> dict[str, str]:
        o = self.options
        key = o.admin_key if admin else (o.api_key or o.admin_key)
        return {"X-API-Key": key} if key else {}

    def client(self) -> httpx.AsyncClient:
        o = self.options
        limits = httpx.Limits(max_connections=o.concurrency + 4,
                              max_keepalive_connections=o.concurrency + 4)  # fmt: skip
        return httpx.AsyncClient(base_url=check_loopback(o.url), timeout=o.timeout_s,
                                 limits=limits, transport=self.transport)  # fmt: skip

    async def experiment(self, client: httpx.AsyncClient, k: int) -> dict[str, Any]:
        """The experiment repetition ``k`` runs in (a fresh one unless kept)."""
        r = await client.get("/admin/arms", headers=self.headers(admin=True))
        _raise_for(r, "GET /admin/arms")
        current = r.json()
        if self.options.keep_experiment:
            return current
        name = f"sim-{self.token}-{k}"
        body = fresh_experiment(current, name=name, salt=f"{name}-{secrets.token_hex(4)}")
        r = await client.put("/admin/arms", json=body, headers=self.headers(admin=True))
        _raise_for(r, "PUT /admin/arms")
        r = await client.get("/admin/arms", headers=self.headers(admin=True))  # with versions
        _raise_for(r, "GET /admin/arms")
        running = r.json()
        if running.get("name") != name or running.get("salt") != body["salt"]:
            raise RuntimeError(f"PUT /admin/arms did not take: the service runs {running}")
        return running

    async def repetition(self, client: httpx.AsyncClient, k: int) -> Repetition:
        o = self.options
        experiment = await self.experiment(client, k)
        name, control = experiment.get("name", "default"), control_of(experiment)
        offsets = poisson_arrivals(o.rate, self._arrivals, o.seconds, o.requests)
        batch = self.traffic.requests(len(offsets), prefix=f"sim-{self.token}-{k}")
        stats, ledger = DriveStats(scheduled=len(offsets)), Ledger()
        await self._drive(client, batch, offsets, stats, ledger)
        await asyncio.sleep(o.settle_s)
        truth = ledger.truth_table(control)
        per_user = ledger.per_user()
        try:
            detectable = smallest_detectable_lift(per_user, control, o.alpha)
        except ValueError:
            detectable = {}
        rep = Repetition(k, name, str(experiment.get("salt", "")), arm_names(experiment),
                         control, identical_arms(experiment), stats, truth, [],
                         detectable)  # fmt: skip
        rep_dir = o.out / f"rep-{k}"
        rep_dir.mkdir(parents=True, exist_ok=True)
        try:
            report = await asyncio.to_thread(self._report, name, control, rep_dir)
            rep.verdicts = verdicts(report_lifts(report, control), truth, o.alpha)
            rep.report_text = _report_text(report)
            srm = getattr(report, "srm_pvalue", None)
            rep.srm_pvalue = float(srm) if srm is not None else None
            rep.report_detectable_lift = {
                c.arm: float(c.detectable_ctr_lift)
                for c in getattr(report, "comparisons", ())
                if hasattr(c, "detectable_ctr_lift")
            }
        except Exception as exc:  # the report's failure is the run's finding, not a crash
            rep.report_error = f"{type(exc).__name__}: {exc}"
        truth.to_csv(rep_dir / "truth.csv")
        return rep

    def _report(self, name: str, control: str, out: Path) -> Any:
        o = self.options
        fn = self.report_fn
        if fn is None:
            from model_export.experiment.report import report_experiment

            fn = report_experiment
        return fn(o.redis_url, name, prefix=o.prefix, control=control, alpha=o.alpha, out=out)

    async def _drive(self, client: httpx.AsyncClient, batch: Any, offsets: np.ndarray,
                     stats: DriveStats, ledger: Ledger) -> None:  # fmt: skip
        o = self.options
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(o.concurrency)
        pending: list[Answer] = []
        done = asyncio.Event()
        bar = _progress(len(offsets), o.progress)
        start = loop.time()

        async def one(i: int) -> None:
            async with slots:
                lag = loop.time() - (start + offsets[i])
                stats.max_lag_s = max(stats.max_lag_s, lag)
                stats.late += lag > LATE_S
                body = orjson.dumps(self.traffic.body(batch, i))
                sent = time.perf_counter()
                try:
                    r = await client.post("/rank", content=body, headers=self._json_headers)
                except httpx.HTTPError as exc:
                    stats.errors[type(exc).__name__] += 1
                    return
                finally:
                    bar.update()
                if r.status_code != 200:
                    stats.errors[f"HTTP {r.status_code}"] += 1
                    return
                stats.latencies_s.append(time.perf_counter() - sent)
                answer = r.json()
                arm = answer.get("arm")
                if arm is None:
                    stats.without_arm += 1
                ranked = answer.get("ranked") or []
                shown = [(a["ad_id"], a.get("source", "model")) for a in ranked]
                pending.append(Answer(i, arm or "(none)", shown))
                stats.answered += 1

        async def flusher() -> None:
            while not (done.is_set() and not pending):
                if not done.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(done.wait(), o.flush_s)
                if pending:
                    answers = pending[:]
                    del pending[: len(answers)]
                    await self._outcomes(client, batch, answers, stats, ledger)

        self._json_headers = {"Content-Type": "application/json", **self.headers()}
        flushing = asyncio.create_task(flusher())
        tasks: set[asyncio.Task[None]] = set()
        try:
            for i, at in enumerate(offsets):
                delay = start + at - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(one(i))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.gather(*tasks)
            stats.seconds = loop.time() - start
        finally:
            done.set()
            await flushing
            bar.close()

    async def _outcomes(self, client: httpx.AsyncClient, batch: Any, answers: list[Answer],
                        stats: DriveStats, ledger: Ledger) -> None:  # fmt: skip
        shown = await asyncio.to_thread(self.traffic.outcomes, batch, answers)
        ledger.add(shown, answers)
        records = outcome_records(shown, time.time())
        size = self.options.outcome_batch
        posts = [self._post_outcomes(client, records[i : i + size], stats)
                 for i in range(0, len(records), size)]  # fmt: skip
        await asyncio.gather(*posts)

    async def _post_outcomes(self, client: httpx.AsyncClient, records: list[dict[str, Any]],
                             stats: DriveStats) -> None:  # fmt: skip
        stats.outcomes_posted += len(records)
        try:
            r = await client.post("/events", content=orjson.dumps({"outcomes": records}),
                                  headers=self._json_headers)  # fmt: skip
        except httpx.HTTPError as exc:
            stats.outcome_errors[type(exc).__name__] += len(records)
            return
        if r.status_code != 200:
            stats.outcome_errors[f"HTTP {r.status_code}: {r.text[:200]}"] += len(records)
            return
        answer = r.json()
        stats.outcomes_counted += int(answer.get("outcomes", 0))
        stats.attributed += int(answer.get("attributed", 0))

    async def run(self) -> list[Repetition]:
        reps = []
        async with self.client() as client:
            for k in range(self.options.repeat):
                reps.append(await self.repetition(client, k))
        return reps


def _raise_for(r: httpx.Response, what: str) -> None:
    if r.status_code != 200:
        raise RuntimeError(f"{what}: HTTP {r.status_code}: {r.text[:500]}")


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="simulate", unit="req", disable=not enabled, leave=False)


def _report_text(report: Any) -> str | None:
    for attr in ("markdown", "to_markdown", "render"):
        value = getattr(report, attr, None)
        if value is not None:
            return value() if callable(value) else str(value)
    return None


# ---------------------------------------------------------------- the study


def summarise(reps: Sequence[Repetition], options: SimulateOptions) -> dict[str, Any]:
    """The study across repetitions: the share whose CTR difference was significant (with
    its binomial interval), per metric the share of intervals that covered the true lift,
    and the mean smallest detectable CTR lift."""
    judged = [r for r in reps if r.significant is not None]
    significant = sum(bool(r.significant) for r in judged)
    coverage = {}
    for metric in METRICS:
        found = [v.covered for r in reps for v in r.verdicts
                 if v.metric == metric and v.covered is not None]  # fmt: skip
        coverage[metric] = share_interval(sum(found), len(found))
    detectable: dict[str, list[float]] = {}
    for r in reps:
        for arm, lift in r.detectable_lift.items():
            detectable.setdefault(arm, []).append(lift)
    kind = "A/A" if reps and all(r.identical_arms for r in reps) else "A/B"
    return {
        "kind": kind,
        "repetitions": len(reps),
        "judged": len(judged),
        "alpha": options.alpha,
        "significant": share_interval(significant, len(judged)),
        "coverage": coverage,
        "smallest_detectable_lift": {arm: float(np.nanmean(v)) for arm, v in detectable.items()},
        "options": {k: str(v) for k, v in asdict(options).items() if not k.endswith("_key")},
        "repetition": [r.as_dict() for r in reps],
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:+.2f}%"


def _num(x: float | None, scale: float = 100.0, unit: str = "%") -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{scale * x:.3f}{unit}"


def _share(s: Mapping[str, Any]) -> str:
    if not s["n"]:
        return "none judged"
    return f"{s['share']:.1%} of {s['n']} (95% CI [{s['ci_low']:.1%}, {s['ci_high']:.1%}])"


def render_markdown(summary: Mapping[str, Any]) -> str:
    """The summary as Markdown: per repetition the arms' truth and the report's verdicts
    beside it, then the study's shares."""
    lines = [f"# adrank simulate: {summary['kind']}, {summary['repetitions']} repetition(s)", ""]
    for rep in summary["repetition"]:
        s = rep["stats"]
        lines += [f"## {rep['name']} (control {rep['control']})", "",
                  f"{s['answered']:,} of {s['scheduled']:,} requests answered "
                  f"({s['rps']:.1f}/s, p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms), "
                  f"{s['late']:,} sent late, errors {s['errors'] or 'none'}; "
                  f"{s['outcomes_posted']:,} outcomes posted, {s['outcomes_counted']:,} counted, "
                  f"{s['attributed']:,} attributed", "",
                  "| arm | requests | users | impressions | clicks | conversions | CTR "
                  "| true CTR | true CVR | true revenue / 1k requests | prior share |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for arm, t in rep["truth"].items():
            lines.append(f"| {arm} | {t['requests']:,} | {t['users']:,} | {t['impressions']:,} "
                         f"| {t['clicks']:,} | {t['conversions']:,} | {_num(t['ctr'])} "
                         f"| {_num(t['expected_ctr'])} | {_num(t['expected_cvr'])} "
                         f"| {_num(t['expected_rpm'], 1.0, '')} "
                         f"| {_num(t['prior_share'])} |")  # fmt: skip
        if rep["verdicts"]:
            lines += ["", "| arm | metric | report lift | interval | p | true lift | covered |",
                      "|---|---|---:|---|---:|---:|---|"]  # fmt: skip
            for v in rep["verdicts"]:
                covered = {True: "yes", False: "**no**", None: "n/a"}[v["covered"]]
                sig = " (significant)" if v["significant"] else ""
                interval = f"[{_pct(v['ci_low'])}, {_pct(v['ci_high'])}]"
                lines.append(f"| {v['arm']} | {v['metric']} | {_pct(v['estimate'])}{sig} "
                             f"| {interval} | {v['p_value']:.3g} | {_pct(v['true_lift'])} "
                             f"| {covered} |")  # fmt: skip
        lines.append("")
        if rep["smallest_detectable_lift"]:
            mde = ", ".join(f"{a} {_pct(x)}" for a, x in rep["smallest_detectable_lift"].items())
            lines += [f"Smallest CTR lift detectable at 80% power, α {summary['alpha']}: {mde} "
                      "(the simulator's per-user counts)", ""]  # fmt: skip
        if rep["report_detectable_lift"] or rep["srm_pvalue"] is not None:
            mde = ", ".join(f"{a} {_pct(x)}" for a, x in rep["report_detectable_lift"].items())
            srm = rep["srm_pvalue"]
            lines += [f"The report's own: smallest detectable CTR lift {mde or 'n/a'}; "
                      f"sample-ratio p {'n/a' if srm is None else f'{srm:.3g}'}", ""]  # fmt: skip
        if rep["report_error"]:
            lines += [f"The report failed: `{rep['report_error']}`", ""]
    what = "the false positive rate" if summary["kind"] == "A/A" else "the power at the true lift"
    lines += ["## The study", "",
              f"- CTR difference significant at α {summary['alpha']}: "
              f"{_share(summary['significant'])}: {what}"]  # fmt: skip
    for metric, share in summary["coverage"].items():
        lines.append(f"- {metric} intervals covering the true lift: {_share(share)}; nominal "
                     f"{1 - summary['alpha']:.0%}")  # fmt: skip
    if summary["smallest_detectable_lift"]:
        mde = ", ".join(f"{a} {_pct(x)}" for a, x in summary["smallest_detectable_lift"].items())
        lines.append(f"- smallest detectable CTR lift (80% power, mean over repetitions): {mde}")
    return "\n".join(lines) + "\n"


def simulate(
    options: SimulateOptions,
    report_fn: ReportFn | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    world: Any = None,
) -> dict[str, Any]:
    """Run the study of ``options``; writes ``summary.json`` and ``summary.md`` to
    ``options.out`` and returns the summary. ``world``: the data directory's world, when the
    caller has it already."""
    from model_export.data.synth_world import load_world

    world = world if world is not None else load_world(options.data, progress=False)
    traffic = Traffic(world, options.traffic, options.seed)
    driver = Driver(options, traffic, report_fn, transport)
    reps = asyncio.run(driver.run())
    summary = summarise(reps, options)
    options.out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_finite(summary), indent=1, default=_json_default)
    (options.out / "summary.json").write_text(text + "\n")
    (options.out / "summary.md").write_text(render_markdown(summary))
    return summary


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float as None (strict JSON)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")
