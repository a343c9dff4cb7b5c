"""`adrank copy` end to end: the tiny bundle, the log it was trained on written as `adrank synth`
writes it, the tiny generator (a random model: its outputs rarely parse, so the ads mostly
keep their original), a data: audience with the truth and a redis: audience from a real Redis;
the reports and the JSON agree with scoring the originals directly."""

from pathlib import Path

import numpy as np
import orjson
import pytest
import redis

from adrank.cli import main
from model_export.copy.audiences import data_audience
from model_export.data.io import read_clicklog, write_clicklog
from model_export.data.synth import SynthConfig, synthesize
from model_export.data.synth_world import load_world, write_config
from model_export.warm_store import LoadOptions, load_users
from service.bundle.loader import load_bundle
from service.copy.audience import VariantScorer
from service.features.text import ad_text
from service.store.keys import KeyLayout
from tests.support.processes import RedisProcess
from tests.support.tiny_bundle import TINY_SYNTH


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny bundle's training log, as `adrank synth` writes it (with its config)."""
    out = tmp_path_factory.mktemp("synth")
    config = SynthConfig(seed=7, **TINY_SYNTH)
    write_clicklog(synthesize(config), out)
    write_config(config, out)
    return out


def _copy(*args: str) -> None:
    main(["copy", "--generator", "tiny", "--variants", "3", "--seed", "1", *args])


def test_a_data_audience_with_the_truth(
    tiny_bundle: Path, log_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report" / "copy.md"
    data = ["--from-data", str(log_dir), "--ads-count", "3", "--audience", f"data:{log_dir}:25"]
    _copy("--bundle", str(tiny_bundle), *data, "--truth", str(log_dir), "--out", str(out))
    assert "3 ads, " in capsys.readouterr().out
    text = out.read_text()
    assert "- generator: tiny-llama-1" in text and "data:" in text and ": 25 users" in text
    assert "| ads | 3 |" in text and "| variants generated (asked) |" in text
    assert "mean true uplift of the best variants" in text
    assert out.with_suffix(".html").read_text().count("<h2>") == 3
    result = orjson.loads(out.with_suffix(".json").read_bytes())
    assert [a["asked"] for a in result["ads"]] == [3, 3, 3]
    # the originals' numbers are the model's and the truth's on the same audience
    bundle = load_bundle(tiny_bundle)
    scorer = VariantScorer.from_bundle(bundle)
    log, _ = read_clicklog(log_dir)
    audience, rows = data_audience(log, bundle, scorer.encoder, 25, seed=1)
    world = load_world(log_dir, progress=False)
    for record, ad in zip(result["ads"], log.ads.head(3).itertuples(), strict=True):
        assert record["ad_id"] == ad.ad_id and record["audience_users"] == 25
        p = scorer.score([ad_text(ad.title, ad.description, ad.category)], audience)
        assert record["original"]["mean_pctr"] == pytest.approx(float(p.mean()), rel=1e-6)
        want, _ = world.truth(rows.assign(ad_id=ad.ad_id))
        assert record["original"]["true_mean"] == pytest.approx(float(want.mean()), rel=1e-12)
        assert len(record["kept"]) + len(record["dropped"]) == record["generated"] <= 3


def test_a_redis_audience_and_the_errors(
    tiny_bundle: Path, log_dir: Path, tmp_path: Path, redis_server: RedisProcess
) -> None:
    bundle = load_bundle(tiny_bundle)
    log, _ = read_clicklog(log_dir)
    client = redis.Redis.from_url(redis_server.url)
    scorer = VariantScorer.from_bundle(bundle)
    prefix = "copycmd:"
    load_users(client, scorer.encoder, bundle, log.events, LoadOptions(KeyLayout(prefix)))
    ads = tmp_path / "ads.jsonl"
    ad = {"ad_id": "x1", "title": "Velvik trail running shoes", "category": "Sport",
          "description": "Free shipping on every order."}  # fmt: skip
    ads.write_bytes(orjson.dumps(ad) + b"\n")
    out = tmp_path / "redis.md"
    common = ["--bundle", str(tiny_bundle), "--ads", str(ads), "--out", str(out)]
    _copy(*common, "--audience", "redis:12", "--redis-url", redis_server.url,
          "--key-prefix", prefix, "--context", '{"device": "mobile"}')  # fmt: skip
    record = orjson.loads(out.with_suffix(".json").read_bytes())["ads"][0]
    assert record["ad_id"] == "x1" and record["audience_users"] == 12
    assert 0 < record["original"]["mean_pctr"] < 1 and record["original"]["true_mean"] is None
    users = tmp_path / "users.txt"
    users.write_text("nobody\n")
    with pytest.raises(SystemExit, match="audience is empty"):
        _copy(*common, "--audience", f"users:{users}", "--redis-url", redis_server.url,
              "--key-prefix", prefix)  # fmt: skip
    with pytest.raises(SystemExit, match="needs --redis-url"):
        _copy(*common, "--audience", "redis:5")
    with pytest.raises(SystemExit, match="--truth needs a data: audience"):
        _copy(*common, "--audience", "redis:5", "--redis-url", redis_server.url,
              "--key-prefix", prefix, "--truth", str(log_dir))  # fmt: skip
    with pytest.raises(SystemExit, match="expected redis:N"):
        _copy(*common, "--audience", "everyone")
    assert np.isfinite(record["original"]["uplift_std"])
