"""Open a bundle directory, verify it, and hand back what the runtime needs.

Refusals raise :class:`BundleError` with a message that names the file and the problem.
"""

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
from pydantic import ValidationError

from service.bundle.manifest import FORMAT_VERSION, MANIFEST_FILE, Manifest
from service.features.context import ContextSpec

_CHUNK = 1 << 20


class BundleError(Exception):
    """The bundle is missing, malformed, or does not match its manifest."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class AdPriors:
    """Training-time click statistics of known ads (the ad-id path of the ranker), and the
    click logit offsets of the ads that have one (model_export/train/ad_offsets.py)."""

    clicks: dict[str, tuple[float, float]]  # ad_id → (clicks, impressions)
    offsets: dict[str, float] = field(default_factory=dict)  # ad_id → logit offset

    def __len__(self) -> int:
        return len(self.clicks)


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: Manifest
    context: ContextSpec
    priors: AdPriors

    @property
    def version(self) -> str:
        return self.manifest.version

    def file(self, name: str) -> Path:
        return self.path / name


def _read_manifest(path: Path) -> Manifest:
    manifest_path = path / MANIFEST_FILE
    if not manifest_path.is_file():
        raise BundleError(f"{manifest_path}: no manifest (is {path} a bundle directory?)")
    try:
        manifest = Manifest.model_validate(orjson.loads(manifest_path.read_bytes()))
    except orjson.JSONDecodeError as exc:
        raise BundleError(f"{manifest_path}: not valid JSON ({exc})") from exc
    except ValidationError as exc:
        raise BundleError(f"{manifest_path}: does not match the manifest schema: {exc}") from exc
    if manifest.format_version != FORMAT_VERSION:
        raise BundleError(
            f"{manifest_path}: format_version {manifest.format_version}, "
            f"this adrank reads {FORMAT_VERSION}"
        )
    return manifest


def _referenced_files(manifest: Manifest) -> set[str]:
    graphs = [manifest.graphs.encoder, manifest.graphs.ranker, manifest.graphs.encoder_int8]
    names = {g.file for g in graphs if g is not None}
    return names | {manifest.tokenizer_file, manifest.ad_priors_file}


def verify_checksums(path: Path, manifest: Manifest) -> None:
    """Every referenced file is listed, present, and has the sha256 the manifest states."""
    unlisted = _referenced_files(manifest) - manifest.files.keys()
    if unlisted:
        raise BundleError(f"{path}: manifest has no checksum for {sorted(unlisted)}")
    for name, expected in sorted(manifest.files.items()):
        file = path / name
        if not file.is_file():
            raise BundleError(f"{file}: listed in the manifest but missing")
        actual = sha256_file(file)
        if actual != expected:
            raise BundleError(
                f"{file}: sha256 {actual[:12]}… does not match the manifest's {expected[:12]}… "
                "(file changed or corrupted after export)"
            )


def _check_consistency(manifest: Manifest) -> None:
    missing = set(manifest.featurisation.context_fields) - manifest.context_vocab.keys()
    if missing:
        raise BundleError(f"manifest: context fields without a vocabulary: {sorted(missing)}")


def read_ad_priors(file: Path) -> AdPriors:
    with np.load(file, allow_pickle=False) as data:
        ids, clicks, imps = data["ad_id"], data["clicks"], data["impressions"]
        table = {str(a): (float(c), float(n)) for a, c, n in zip(ids, clicks, imps, strict=True)}
        offsets = {}  # bundles exported before offsets have none
        if "offset" in data:
            offsets = dict(zip(map(str, data["offset_ad_id"]), map(float, data["offset"]),
                               strict=True))  # fmt: skip
    return AdPriors(table, offsets)


def load_bundle(path: Path | str) -> Bundle:
    """Read and verify a bundle; raise :class:`BundleError` saying what is wrong."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"{path}: bundle directory does not exist")
    manifest = _read_manifest(path)
    verify_checksums(path, manifest)
    _check_consistency(manifest)
    fields = tuple(manifest.featurisation.context_fields)
    context = ContextSpec(fields, {f: manifest.context_vocab[f] for f in fields})
    return Bundle(path, manifest, context, read_ad_priors(path / manifest.ad_priors_file))
