"""`adrank experiment report`: whether a difference between an experiment's arms is real.

From Python (the simulator does)::

    from model_export.commands.experiment import report_experiment  # or experiment.report
    report = report_experiment(redis_url, name, prefix="adrank:", control=None,
                               cuped_from=None, alpha=0.05, out=None)

returns ``model_export.experiment.report.ExperimentReport`` (fields ``name``, ``analysis``,
``meta``, ``markdown``, ``files``). Per treatment arm, ``report.ctr_lifts()[arm]`` holds the
relative CTR lift against the control: ``estimate``, ``ci_low``, ``ci_high``, ``p_value``,
``significant`` (p < alpha) and ``srm_pvalue`` (that arm and the control against their
weights); ``report.srm_pvalue`` is the chi-square sample-ratio check over all arms. The whole
statistics: ``report.comparisons`` (``results.Comparison``: ``arm``, ``control``,
``differences`` per metric ``ctr``/``cvr``/``rpm`` as ``results.Difference`` with ``lift``
and ``diff`` as ``Estimate(value, low, high)``, ``pvalue``, ``significant``, ``cuped``;
``srm_pvalue``; ``detectable_ctr_lift``) and ``report.analysis.arms``. It raises
``model_export.experiment.counts.NoSuchExperiment`` (a ``LookupError``) when Redis holds
nothing of the experiment, ``ValueError`` for a control that is no arm.
"""

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model_export.experiment.report import ExperimentReport

REDIS_URL_ENV = "ADRANK_REDIS__URL"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "experiment",
        help="experiment (A/B arms) statistics from the service's counts in Redis",
        description="Offline tools for the service's experiments (docs/experiments.md).",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    r = actions.add_parser(
        "report",
        help="per-arm metrics and each arm against the control",
        description="Read an experiment's per-user counts from Redis and write report.md, "
        "report.json and arms_over_time.png: per arm users, requests, impressions, clicks, "
        "conversions, revenue, CTR, CVR and revenue per 1,000 requests with confidence "
        "intervals; each arm against the control (relative lift and absolute difference "
        "with intervals, p-value, significance at --alpha; per-user delta method, optional "
        "CUPED); the sample-ratio check; the smallest CTR lift detectable at 80% power.",
    )
    r.add_argument(
        "--redis-url",
        default=os.environ.get(REDIS_URL_ENV),
        help=f"the service's Redis (redis:// or unix://; default ${REDIS_URL_ENV})",
    )
    r.add_argument("--prefix", default="adrank:", help="the service's redis.key_prefix")
    r.add_argument("--name", default="default", help="the experiment's name")
    r.add_argument("--control", default=None, help="the control arm (default: the meta's)")
    r.add_argument(
        "--cuped-from",
        default=None,
        metavar="NAME",
        help="an earlier experiment whose per-user counts are CUPED covariates",
    )
    r.add_argument("--alpha", type=float, default=0.05, help="significance level")
    r.add_argument("--out", type=Path, required=True, help="report directory")
    r.set_defaults(run=run)


def report_experiment(
    redis_url: str,
    name: str,
    prefix: str = "adrank:",
    control: str | None = None,
    cuped_from: str | None = None,
    alpha: float = 0.05,
    out: Path | str | None = None,
) -> "ExperimentReport":
    """``model_export.experiment.report.report_experiment`` (see the module docstring)."""
    from model_export.experiment.report import report_experiment as report

    return report(redis_url, name, prefix, control, cuped_from, alpha, out)


def fail(message: str) -> None:
    print(f"adrank experiment report: {message}", file=sys.stderr)
    sys.exit(2)


def run(args: argparse.Namespace) -> None:
    from redis.exceptions import RedisError
    from rich.console import Console

    from model_export.experiment.counts import NoSuchExperiment

    if not args.redis_url:
        fail(f"no Redis: pass --redis-url or set {REDIS_URL_ENV}")
    try:
        report = report_experiment(args.redis_url, args.name, args.prefix, args.control,
                                   args.cuped_from, args.alpha, args.out)  # fmt: skip
    except (NoSuchExperiment, ValueError) as exc:
        fail(str(exc))
    except RedisError as exc:
        fail(f"cannot read {args.redis_url}: {exc}")
    # the Markdown source, unwrapped: its tables stay pipe tables at any terminal width
    Console(soft_wrap=True).print(report.markdown, markup=False, highlight=False)
    print(f"report in {args.out}")
