"""The bundle loader refuses what does not match its manifest, and says what is wrong."""

import shutil
from pathlib import Path

import orjson
import pytest

from service.bundle.loader import BundleError, load_bundle


@pytest.fixture
def bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy)
    return copy


def _edit_manifest(bundle: Path, **changes: object) -> None:
    path = bundle / "manifest.json"
    path.write_bytes(orjson.dumps({**orjson.loads(path.read_bytes()), **changes}))


def test_an_intact_bundle_loads(bundle_copy: Path) -> None:
    bundle = load_bundle(bundle_copy)
    assert bundle.manifest.graphs.ranker.file == "ranker.onnx"
    assert bundle.context.fields == tuple(bundle.manifest.featurisation.context_fields)


def test_a_changed_graph_is_refused_by_checksum(bundle_copy: Path) -> None:
    with (bundle_copy / "ranker.onnx").open("r+b") as fh:
        fh.seek(200)
        byte = fh.read(1)
        fh.seek(200)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(BundleError, match=r"ranker\.onnx: sha256 .* does not match"):
        load_bundle(bundle_copy)


def test_a_missing_file_is_named(bundle_copy: Path) -> None:
    (bundle_copy / "tokenizer.json").unlink()
    with pytest.raises(BundleError, match=r"tokenizer\.json: listed in the manifest but missing"):
        load_bundle(bundle_copy)


def test_a_file_without_checksum_is_refused(bundle_copy: Path) -> None:
    manifest = orjson.loads((bundle_copy / "manifest.json").read_bytes())
    del manifest["files"]["ranker.onnx"]
    _edit_manifest(bundle_copy, files=manifest["files"])
    with pytest.raises(BundleError, match=r"no checksum for.*ranker\.onnx"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format_version": 99}, "format_version 99"),
        ({"dims": {"d": 0}}, "does not match the manifest schema"),
        ({"version": "has spaces"}, "does not match the manifest schema"),
    ],
)
def test_a_bad_manifest_is_refused(bundle_copy: Path, change: dict, message: str) -> None:
    _edit_manifest(bundle_copy, **change)
    with pytest.raises(BundleError, match=message):
        load_bundle(bundle_copy)


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nowhere")
    with pytest.raises(BundleError, match="no manifest"):
        load_bundle(tmp_path)
    (tmp_path / "manifest.json").write_text("{oops")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(tmp_path)
