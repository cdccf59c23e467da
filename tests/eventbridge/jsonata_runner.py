"""The reference JSONata implementation (npm `jsonata` 2.0.6, the version Step Functions implements: "Step Functions
implements JSONata based on the 2.0.6 specification", https://docs.aws.amazon.com/step-functions/latest/dg/transforming-data.html;
installed by `make` from tests/node/package-lock.json) run by Node over events, as a Step Functions JSONata state
evaluates an expression ($states.input is the event)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
NODE = shutil.which("node")
INSTALLED = (NODE_DIR / "node_modules" / "jsonata" / "package.json").is_file()

needs_jsonata = pytest.mark.skipif(
    NODE is None or not INSTALLED,
    reason="node or the npm jsonata package is absent (make installs it: npm ci in tests/node)",
)


def evaluate(expressions: list[str], events: list[dict]) -> list[list]:
    """One row per expression, one value per event; a failed evaluation is {"error": ...}."""
    result = subprocess.run(
        [NODE, str(NODE_DIR / "evaluate.js")],
        input=json.dumps({"expressions": expressions, "events": events}),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=NODE_DIR,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
