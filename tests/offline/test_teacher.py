"""The teacher and distillation through the CLI on the tiny log: a tiny teacher trains,
resumes and labels; a teacher started from a run begins at its logits; an ensemble teacher
labels with its runs' mean logit; distillation moves the student towards the teacher, and
refuses soft labels of another log; a fine-tuned encoder exports with parity."""

import shutil
import zlib
from pathlib import Path

import numpy as np
import orjson
import pytest
import torch

from adrank.cli import main
from model_export.data.sources import load_source, split_for
from model_export.export.parity import VECTOR_TOLERANCE
from model_export.model.encoder import tiny_bert
from model_export.teacher.labels import SOFT_LABELS, SoftLabels, log_fingerprint
from model_export.teacher.lower import TokenStates
from model_export.teacher.model import CrossTeacher
from model_export.train.arrays import featurise, positions, with_ads
from model_export.train.run import load_run
from model_export.train.trainer import predict
from service.bundle.loader import load_bundle
from tests.offline.conftest import TINY_TRAIN

TINY_TEACHER = ["--encoder", "tiny", "--max-rows", "1500", "--valid-rows", "500",
                "--label-rows", "400", "--item-tokens", "8", "--ad-tokens", "16"]  # fmt: skip


def teacher(data: Path, out: Path, *extra: str) -> None:
    main(["teacher", "--data", str(data), "--out", str(out), *TINY_TEACHER, *extra])


def test_a_tiny_teacher_trains_resumes_and_labels(tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "teacher"
    teacher(tiny_data, out, "--epochs", "1")
    teacher(tiny_data, out, "--epochs", "2", "--patience", "2")  # resumes for a second epoch
    history = orjson.loads((out / "history.json").read_bytes())
    assert [row["epoch"] for row in history] == [1, 2]
    summary = orjson.loads((out / "teacher.json").read_bytes())
    assert summary["train_rows"] == 1500 and summary["labelled_rows"] == 400
    assert 0.0 < summary["test"]["auc"] < 1.0 and "expected_auc" in summary["test"]

    log = load_source(str(tiny_data), None, False)
    split = split_for(log, "standard", 0)
    labels = SoftLabels.load(out / SOFT_LABELS, log_fingerprint(log, split))
    assert len(labels.row) == len(labels.pair_ad_row) == 400
    assert np.isfinite(labels.logit).all() and np.isfinite(labels.pair_logit).all()
    ads = log.impressions["ad_id"].to_numpy()
    assert (ads[labels.row] != ads[labels.pair_ad_row]).mean() > 0.9  # pairs the log never showed
    assert (log.impressions["ts"].to_numpy()[labels.row] > 0).all()
    assert (split[labels.row] == "train").all() and (split[labels.pair_ad_row] == "train").all()


def test_a_teacher_with_a_base_starts_from_its_logit() -> None:
    bert = tiny_bert(0)
    model = CrossTeacher(bert, 1, [3, 4], items=2).eval()
    torch.nn.init.zeros_(model.out.weight)
    torch.nn.init.zeros_(model.out.bias)
    table = TokenStates(torch.randn(5, 6, 32).half(), torch.tensor([6, 3, 1, 4, 2]))
    base = torch.tensor([0.5, -2.0])
    logits = model(table, torch.tensor([0, 1]), torch.tensor([[2, 3], [4, -1]]),
                   torch.tensor([[1, 2], [0, 3]]), torch.zeros(2, 2), base)  # fmt: skip
    assert torch.equal(logits, base)


def pair_logits(run_dir: Path, data: Path, labels: SoftLabels, cache_dir: Path) -> np.ndarray:
    """A run's click logits of the labelled pairs: the logged rows, then the unshown ones."""
    run = load_run(run_dir)
    log = load_source(str(data), None, False)
    feats, _ = featurise(log, split_for(log, "standard", 0), run.cfg.history_len,
                         run.cfg.prior_alpha, run.spec)  # fmt: skip
    rows, ad_rows = positions(feats, labels.row), positions(feats, labels.pair_ad_row)
    source = run.text_source(feats, cache_dir)
    p = np.concatenate([predict(run.model, source, with_ads(feats, rows, rows)),
                        predict(run.model, source, with_ads(feats, rows, ad_rows))])  # fmt: skip
    return np.log(p / (1 - p))


def agreement(run_dir: Path, data: Path, labels: SoftLabels, cache_dir: Path) -> float:
    """Correlation of a run's click logits with the teacher's over its labelled pairs."""
    student = pair_logits(run_dir, data, labels, cache_dir)
    return float(np.corrcoef(student, np.concatenate([labels.logit, labels.pair_logit]))[0, 1])


def test_an_ensemble_teacher_labels_with_its_runs_mean_logit(
    tiny_data: Path, tiny_run: Path, cache_dir: Path, tmp_path: Path
) -> None:
    other, out = tmp_path / "seed1", tmp_path / "ensemble"
    main(["train", "--data", str(tiny_data), "--out", str(other), "--cache-dir",
          str(cache_dir), *TINY_TRAIN, "--seed", "1"])  # fmt: skip
    main(["teacher", "--data", str(tiny_data), "--out", str(out), "--label-rows", "300",
          "--ensemble", str(tiny_run), str(other)])  # fmt: skip
    log = load_source(str(tiny_data), None, False)
    labels = SoftLabels.load(out / SOFT_LABELS, log_fingerprint(log, split_for(log, "standard", 0)))
    assert len(labels.row) == 300
    members = [pair_logits(r, tiny_data, labels, cache_dir) for r in (tiny_run, other)]
    assert np.abs(members[0] - members[1]).max() > 0.01  # two different runs
    taught = np.concatenate([labels.logit, labels.pair_logit])
    np.testing.assert_allclose(taught, np.mean(members, axis=0), atol=1e-4)
    summary = orjson.loads((out / "teacher.json").read_bytes())
    assert len(summary["members_test"]) == 2 and 0.0 < summary["test"]["auc"] < 1.0


def odd_ads_teacher(data: Path, out: Path) -> SoftLabels:
    """A teacher that knows something the clicks barely show: ads whose id hashes odd are
    clicked far more. Its soft labels of 3,000 pairs of ``data``, saved in ``out``."""
    log = load_source(str(data), None, False)
    split = split_for(log, "standard", 0)
    train = np.flatnonzero(split == "train")
    rng = np.random.default_rng(0)
    rows, ad_rows = rng.choice(train, 3000), rng.choice(train, 3000)
    odd = log.impressions["ad_id"].map(lambda a: zlib.crc32(a.encode()) % 2).to_numpy()
    logit = lambda r: np.where(odd[r] == 1, -1.5, -5.0).astype(np.float32)  # noqa: E731
    out.mkdir()
    labels = SoftLabels(rows, logit(rows), ad_rows, logit(ad_rows), log_fingerprint(log, split))
    labels.save(out / SOFT_LABELS)
    (out / "teacher.json").write_bytes(orjson.dumps({"made_by": "the test"}))
    return labels


def test_distillation_moves_the_student_towards_the_teacher(
    tiny_data: Path, cache_dir: Path, tmp_path: Path
) -> None:
    """The odd-ads teacher is learnt by the students distilled with each kind of loss, and
    not by the plain one."""
    teacher_dir = tmp_path / "teacher"
    labels = odd_ads_teacher(tiny_data, teacher_dir)

    train_args = ["train", "--data", str(tiny_data), "--cache-dir", str(cache_dir), *TINY_TRAIN]
    train_args += ["--epochs", "4", "--distill-weight", "3", "--no-ad-offsets"]  # distilling alone
    main([*train_args, "--out", str(tmp_path / "plain")])
    main([*train_args, "--out", str(tmp_path / "kl"), "--teacher", str(teacher_dir)])
    for kind in ("margin_mse", "in_batch"):
        main([*train_args, "--out", str(tmp_path / kind), "--teacher", str(teacher_dir),
              "--distill", kind])  # fmt: skip
    names = ("plain", "kl", "margin_mse", "in_batch")
    plain, kl, margin, in_batch = (agreement(tmp_path / n, tiny_data, labels, cache_dir)
                                   for n in names)  # fmt: skip
    print(f"correlation with the teacher: plain {plain:.3f}  kl {kl:.3f}  "
          f"margin_mse {margin:.3f}  in_batch {in_batch:.3f}")  # fmt: skip
    assert kl > plain + 0.2
    assert margin > plain + 0.2
    assert in_batch > plain + 0.2
    record = orjson.loads((tmp_path / "kl" / "distillation.json").read_bytes())
    assert record["kind"] == "kl" and record["pairs"] == 3000


def test_soft_labels_of_another_log_are_refused(
    tiny_data: Path, cache_dir: Path, tmp_path: Path
) -> None:
    """Soft labels name impressions by position: on a log with one click changed, or with
    another split, the same positions are other rows, and the student refuses them."""
    teacher_dir = tmp_path / "teacher"
    labels = odd_ads_teacher(tiny_data, teacher_dir)
    other = tmp_path / "other"
    shutil.copytree(tiny_data, other)
    impressions = (other / "impressions.jsonl").read_text().splitlines()
    first = orjson.loads(impressions[0])
    first["label"] = 1 - first["label"]
    impressions[0] = orjson.dumps(first).decode()
    (other / "impressions.jsonl").write_text("\n".join(impressions) + "\n")

    log = load_source(str(tiny_data), None, False)
    split = split_for(log, "standard", 0)
    assert log_fingerprint(load_source(str(tiny_data), None, False), split) == labels.log
    assert log_fingerprint(log, split_for(log, "cold-item", 0)) != labels.log
    with pytest.raises(ValueError, match="labels another log"):
        main(["train", "--data", str(other), "--out", str(tmp_path / "student"), "--cache-dir",
              str(cache_dir), *TINY_TRAIN, "--teacher", str(teacher_dir)])  # fmt: skip
    assert not (tmp_path / "student" / "distillation.json").exists()


FINE_TUNING = {
    "every layer": ["--max-train-rows", "800"],
    "the top layer, then topic clusters": ["--trainable-layers", "1", "--head", "clusters=[4,8]"],
}


@pytest.mark.parametrize("how", FINE_TUNING)
def test_a_fine_tuned_encoder_exports_with_parity(
    how: str, tiny_data: Path, cache_dir: Path, tmp_path: Path
) -> None:
    run_dir, out = tmp_path / "ft", tmp_path / "bundle"
    main(["train", "--data", str(tiny_data), "--out", str(run_dir), "--cache-dir",
          str(cache_dir), *TINY_TRAIN, "--mode", "finetune", "--epochs", "1",
          *FINE_TUNING[how]])  # fmt: skip
    tuned = load_run(run_dir).pooled.bert.state_dict()
    start = tiny_bert(0).state_dict()
    assert any(not torch.equal(tuned[k], start[k]) for k in start)  # the encoder learnt
    main(["export", str(run_dir), "--out", str(out), "--data", str(tiny_data), "--cache-dir",
          str(cache_dir), "--int8"])  # fmt: skip
    parity = load_bundle(out).manifest.metrics["parity"]
    assert parity["encoder_max_abs_diff"] <= VECTOR_TOLERANCE


def test_the_fingerprint_covers_rows_and_texts_not_the_worlds_floats(tiny_data: Path) -> None:
    """A synthetic log's world parameters (per-ad quality, conversion delays) are floats whose
    last bits follow the CPU's BLAS kernels; the rows they go with are the same, so the
    fingerprint must not change with them, and must change with an ad's text."""
    log = load_source(str(tiny_data), None, False)
    split = split_for(log, "standard", 0)
    before = log_fingerprint(log, split)
    log.ads["quality"] = np.nextafter(log.ads["quality"].to_numpy(), np.inf)
    assert log_fingerprint(log, split) == before
    log.ads.loc[0, "description"] = log.ads.loc[0, "description"] + " Now on sale."
    assert log_fingerprint(log, split) != before


@pytest.mark.slow
def test_the_shipped_teacher_labels_the_log_adrank_synth_makes(tmp_path: Path) -> None:
    """`make bundle` distils teachers/synth-default into a model of the log `adrank synth`
    writes by default: its labels must be that log's, on this machine as on the one that
    made them (a new user's `make run` stops otherwise)."""
    main(["synth", "--out", str(tmp_path / "synth")])
    log = load_source(str(tmp_path / "synth"), None, False)
    shipped = Path(__file__).parents[2] / "teachers" / "synth-default" / SOFT_LABELS
    labels = SoftLabels.load(shipped, log_fingerprint(log, split_for(log, "standard", 0)))
    assert len(labels.row) == 240_000
