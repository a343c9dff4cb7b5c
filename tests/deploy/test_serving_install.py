"""The serving install (``pip install ".[cpu]"``, the images' content) has no torch, pandas or
transformers: ``adrank serve`` must start without them. Run in a child interpreter where
importing them fails, as it does in the image."""

import subprocess
import sys

from tests.deploy.files import ROOT

TRAIN_ONLY = ("torch", "transformers", "pandas", "sklearn", "matplotlib", "onnx", "deepctr_torch")

SCRIPT = f"""
import sys
for name in {TRAIN_ONLY!r}:
    sys.modules[name] = None  # import fails with ModuleNotFoundError, as when not installed
import service.app, service.server.drain, adrank.serve_cli
from adrank.cli import main
main(["serve", "--help"])
"""


def test_adrank_serve_runs_without_the_train_extra() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage: adrank serve" in done.stdout
    assert "--model.threads-from-cpus" in done.stdout
