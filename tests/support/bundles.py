"""The tiny real bundle (tests/support/tiny_bundle.py), built once and cached between runs.

The cache key hashes the code that makes a bundle (model_export and the shared features), so
a change to that code rebuilds it. Training it takes under a minute.
"""

import hashlib
import shutil
import time
from pathlib import Path

from service.bundle.loader import BundleError, load_bundle

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "test-bundles"
SOURCES = ("model_export", "service/features", "service/bundle", "tests/support/tiny_bundle.py")


def code_hash() -> str:
    digest = hashlib.sha256()
    for source in SOURCES:
        path = ROOT / source
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(ROOT).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def tiny_bundle(seed: int = 0, cvr: bool = True) -> Path:
    """A verified tiny bundle directory (built now, or reused from the cache); ``cvr``: with
    a conversion tower, else a clicks-only model."""
    from tests.support.tiny_bundle import build_tiny_bundle

    home = CACHE / f"{code_hash()}-{seed}{'' if cvr else '-clicks'}"
    bundle = home / "bundle"
    try:
        load_bundle(bundle)
        return bundle
    except BundleError:
        shutil.rmtree(home, ignore_errors=True)
    for stale in CACHE.glob(f"*-{seed}"):  # built by older code, unused for a day
        if time.time() - stale.stat().st_mtime > 86400:
            shutil.rmtree(stale, ignore_errors=True)
    home.mkdir(parents=True)
    return build_tiny_bundle(bundle, seed=seed, cvr=cvr)
