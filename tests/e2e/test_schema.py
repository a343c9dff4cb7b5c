"""The OpenAPI schema describes what the service does: schemathesis, with every check, against
the real service's /openapi.json finds nothing (no 5xx, nothing the schema forbids accepted,
nothing it allows refused, every answer as documented)."""

import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import StartService

CONFIG = Path(__file__).with_name("schemathesis.toml")
BUDGET_S = 60


def test_schemathesis_finds_nothing_on_any_endpoint(start_service: StartService) -> None:
    # the variants jobs a valid body starts run the tiny generator: the schema, not SmolLM2
    service = start_service("--variants.generator", "tiny")
    cli = Path(sys.executable).with_name("schemathesis")
    done = subprocess.run(
        [str(cli), "--config-file", str(CONFIG), "run", f"{service.url}/openapi.json",
         "--checks", "all", "--max-time", str(BUDGET_S), "--seed", "1", "--workers", "1"],
        capture_output=True, text=True, timeout=BUDGET_S + 120,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out[-6000:] + done.stderr[-2000:]
    assert "Selected: 11/11" in out and "Tested: 11" in out  # arms and variants jobs too
    generated = re.search(r"(\d+) generated, (\d+) passed", out)
    assert generated is not None and int(generated[1]) == int(generated[2]) > 500, out[-2000:]
