"""The offline pipeline end to end through the CLI on a tiny config: synth → train →
evaluate → export → a bundle the service's loader accepts."""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import orjson
import pytest
import torch

from adrank.cli import main
from model_export.data.sources import load_source, split_for
from model_export.train.arrays import featurise, subset
from model_export.train.run import load_run
from model_export.train.trainer import BEST, CHECKPOINT, predict_logit
from service.bundle.loader import AdPriors, load_bundle
from service.runtime.model import PriorTable
from tests.offline.conftest import TINY_TRAIN


def test_train_writes_a_complete_run(tiny_run: Path) -> None:
    for name in (
        "train_config.json",
        "spec.json",
        "ad_priors.npz",
        "tokenizer.json",
        "encoder",
        BEST,
        CHECKPOINT,
        "history.json",
        "data.json",
        "ad_offsets.json",
    ):
        assert (tiny_run / name).exists(), name
    history = orjson.loads((tiny_run / "history.json").read_bytes())
    assert [row["epoch"] for row in history] == [1, 2]
    assert all(0.0 <= row["valid_auc"] <= 1.0 for row in history)


def test_evaluate_writes_report_and_plots(
    tiny_run: Path, tiny_data: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["evaluate", str(tiny_run), "--data", str(tiny_data), "--cache-dir", str(cache_dir)])
    report = json.loads((tiny_run / "eval" / "report.json").read_text())
    for model in ("adrank", "popularity", "oracle"):
        entry = report["models"][model]
        assert {"auc", "gauc", "logloss", "ece", "n", "oracle_auc"} <= entry.keys(), model
        assert entry["n"] == report["models"]["adrank"]["n"] > 0
        assert "test_cold" in entry
    assert report["oracle_auc"] == report["models"]["oracle"]["auc"] > 0.7
    for png in ("roc.png", "reliability.png", "training_curves.png"):
        assert (tiny_run / "eval" / png).stat().st_size > 10_000, png
    assert "| adrank |" in capsys.readouterr().out


def test_export_makes_a_verified_bundle(
    tiny_run: Path, tiny_data: Path, cache_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "models" / "v1"
    main(
        [
            "export",
            str(tiny_run),
            "--out",
            str(out),
            "--version",
            "v1",
            "--int8",
            "--data",
            str(tiny_data),
            "--cache-dir",
            str(cache_dir),
        ]
    )
    bundle = load_bundle(out)
    m = bundle.manifest
    assert m.version == "v1" and m.dims.history_len == 32 and m.dims.max_tokens == 32
    assert set(m.files) == {
        "encoder.onnx",
        "encoder.int8.onnx",
        "ranker.onnx",
        "tokenizer.json",
        "ad_priors.npz",
    }
    parity = m.metrics["parity"]
    assert parity["ranker_max_abs_diff"] <= 1e-5 and parity["heldout_max_abs_diff"] <= 1e-5
    assert 0.5 < m.metrics["int8"]["mean_cosine_to_fp32"] <= 1.0
    assert "auc_cost" in m.metrics["int8"]
    assert m.data["impressions"] == 6000 and "hour" in m.context_vocab
    assert len(bundle.priors) > 0
    assert not out.with_name("v1.partial").exists()


def test_training_resumes_from_its_checkpoint(
    tiny_run: Path, tiny_data: Path, cache_dir: Path, tmp_path: Path
) -> None:
    """A run stopped after epoch 1 and resumed ends where an uninterrupted run ends."""
    resumed = tmp_path / "resumed"
    args = ["train", "--data", str(tiny_data), "--out", str(resumed), "--cache-dir", str(cache_dir)]
    one_epoch = [a if a != "2" else "1" for a in TINY_TRAIN]
    main([*args, *one_epoch])
    main([*args, *TINY_TRAIN])
    straight = orjson.loads((tiny_run / "history.json").read_bytes())
    again = orjson.loads((resumed / "history.json").read_bytes())
    assert [r["valid_auc"] for r in again] == pytest.approx([r["valid_auc"] for r in straight])


def test_a_run_saved_before_newer_settings_resumes_with_their_defaults(
    tiny_run: Path, tiny_data: Path, cache_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "older"
    shutil.copytree(tiny_run, copy)
    saved = orjson.loads((copy / "train_config.json").read_bytes())
    del saved["ad_prior"], saved["head"]["context_mlp"], saved["head"]["ad_context_dim"]
    (copy / "train_config.json").write_bytes(orjson.dumps(saved))
    args = ["train", "--data", str(tiny_data), "--out", str(copy), "--cache-dir", str(cache_dir)]
    main([*args, *TINY_TRAIN])  # nothing left to train: resumes and stops
    assert orjson.loads((copy / "train_config.json").read_bytes())["ad_prior"] is True
    with pytest.raises(ValueError, match=r"another config \(ad_prior differ\)"):
        main([*args, *TINY_TRAIN, "--no-ad-prior"])


def test_train_refuses_a_run_dir_of_another_config(
    tiny_run: Path, tiny_data: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    with pytest.raises(ValueError, match="another config"):
        main(
            [
                "train",
                "--data",
                str(tiny_data),
                "--out",
                str(copy),
                "--encoder",
                "tiny",
                "--epochs",
                "2",
                "--lr",
                "0.1",
            ]
        )


def test_the_default_models_recipe_trains_in_two_stages_and_exports_with_parity(
    tiny_data: Path, cache_dir: Path, tmp_path: Path
) -> None:
    """With topic clusters the run holds its first stage, its head the fitted clusters on the
    first stage's frozen projection, and the exported ranker assigns them as PyTorch does.
    Without the ad prior (as `make bundle` trains) the service knows no ad's history."""
    run_dir = tmp_path / "clustered"
    args = ["train", "--data", str(tiny_data), "--out", str(run_dir), "--cache-dir",
            str(cache_dir), *TINY_TRAIN, "--first-stage-epochs", "1", "--no-ad-prior",
            "--head", "clusters=[4,64]", "--head", "cluster_search=true",
            "--second-stage-lr", "0.0007", "--ad-offset-text-prior",
            "--cell-offsets", "device:slot", "age_band:topic"]  # fmt: skip
    main(args)
    assert "text_prior_penalty" in orjson.loads((run_dir / "ad_offsets.json").read_bytes())
    _known_cell_offsets(run_dir, tiny_data, cache_dir)
    first = orjson.loads((run_dir / "stage1" / "history.json").read_bytes())
    assert [row["epoch"] for row in first] == [1]

    def learning_rates(checkpoint: Path) -> set[float]:
        groups = torch.load(checkpoint, weights_only=False)["optimizer"]["param_groups"]
        return {group["lr"] for group in groups}

    stage1_lrs = learning_rates(run_dir / "stage1" / CHECKPOINT)
    assert 0.0007 not in stage1_lrs and 0.0007 in learning_rates(run_dir / CHECKPOINT)
    stage1 = torch.load(run_dir / "stage1" / BEST, weights_only=True)["model"]
    state = torch.load(run_dir / BEST, weights_only=True)["model"]
    assert torch.equal(state["projection.weight"], stage1["projection.weight"])  # frozen
    assert state["head.clusters.fitted"][0] == 4 and 16 <= state["head.clusters.fitted"][1] <= 64
    out = tmp_path / "models" / "v1"
    main(["export", str(run_dir), "--out", str(out), "--data", str(tiny_data),
          "--cache-dir", str(cache_dir)])  # fmt: skip
    bundle = load_bundle(out)
    parity = bundle.manifest.metrics["parity"]
    assert parity["ranker_max_abs_diff"] <= 1e-5 and parity["heldout_max_abs_diff"] <= 1e-5
    priors = PriorTable.from_bundle(bundle)
    assert not priors.buckets.any() and np.all(priors.rows == priors.rows[-1])  # all unknown
    offsets = load_run(run_dir).spec.ad_offsets  # the only per-ad knowledge it serves
    assert {a: float(priors.offsets[i]) for a, i in priors.index.items()} == pytest.approx(
        offsets.to_dict(), abs=1e-6
    )


def _known_cell_offsets(run_dir: Path, data: Path, cache_dir: Path) -> None:
    """The run's cells are the ones asked for; known non-zero tables put in place of them
    (a tiny log may leave them at 0) move each row's click logit by exactly its two entries,
    so the export's parity that follows checks that ``ranker.onnx`` reads them too."""
    path = run_dir / "cell_offsets.json"
    cells = orjson.loads(path.read_bytes())
    assert [c["cell"] for c in cells] == ["device:slot", "age_band:topic"]
    rng = np.random.default_rng(0)
    tables = [rng.normal(0.0, 0.5, np.shape(c["table"])) for c in cells]
    fitted = [{**c, "table": t.tolist()} for c, t in zip(cells, tables, strict=True)]
    path.write_bytes(orjson.dumps(fitted))
    log = load_source(str(data), cache_dir)
    run = load_run(run_dir)
    feats, _ = featurise(log, split_for(log, "standard"), run.cfg.history_len,
                         run.cfg.prior_alpha, run.spec)  # fmt: skip
    rows = subset(feats, feats.rows("test"))
    source = run.text_source(feats, cache_dir)
    with_cells = predict_logit(run.model, source, rows)
    run.model.head.cell_offsets = None
    without = predict_logit(run.model, source, rows)
    fields = run.spec.context.fields
    ctx = {name: rows.context[:, fields.index(name)] for name in ("device", "slot", "age_band")}
    topic = run.model.head.clusters.assign(source.all_vectors(run.model))[rows.ad_text, 0].numpy()
    want = tables[0][ctx["device"], ctx["slot"]] + tables[1][ctx["age_band"], topic]
    np.testing.assert_allclose(with_cells - without, want, atol=1e-4)


def test_the_served_ad_table_holds_prior_rows_and_offsets(tiny_run: Path, tmp_path: Path) -> None:
    """An ad with statistics keeps its bucket and prior; an ad with an offset alone reads as
    an unknown ad but for its offset; an ad the bundle does not know gets neither."""
    out = tmp_path / "bundle"
    main(["export", str(tiny_run), "--out", str(out)])
    bundle = load_bundle(out)
    known = next(iter(bundle.priors.clicks))
    with_offsets = dataclasses.replace(
        bundle, priors=AdPriors(bundle.priors.clicks, {known: 0.5, "only-offset": -0.25})
    )
    table = PriorTable.from_bundle(with_offsets)
    plain = PriorTable.from_bundle(bundle)
    buckets, rows, offsets = table.features(table.rows_of([known, "only-offset", "stranger"]))
    assert offsets.tolist() == [0.5, -0.25, 0.0]
    want_buckets, want_rows, _ = plain.features(plain.rows_of([known, "stranger", "stranger"]))
    assert buckets.tolist() == want_buckets.tolist() and np.array_equal(rows, want_rows)


@pytest.mark.parametrize(
    ("cell", "error"),
    [("weather:slot", "'weather' is neither a context field"),
     ("age_band:topic", "needs a head with topic clusters")],
)  # fmt: skip
def test_train_refuses_a_cell_it_cannot_fit_before_training(
    tiny_data: Path, cache_dir: Path, tmp_path: Path, cell: str, error: str
) -> None:
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match=error):
        main(["train", "--data", str(tiny_data), "--out", str(run_dir), "--cache-dir",
              str(cache_dir), *TINY_TRAIN, "--cell-offsets", "device:slot", cell])  # fmt: skip
    assert not (run_dir / CHECKPOINT).exists()
