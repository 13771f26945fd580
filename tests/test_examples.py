"""The README's example runs and its answer agrees with a plain-JSON computation."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from tests.conftest import REPO


def test_order_flow_example_matches_independent_json_computation(spot_recording: Path) -> None:
    r = subprocess.run(
        [sys.executable, "examples/order_flow.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    flow = Decimal(0)
    with gzip.open(spot_recording, "rt") as f:
        for line in f:
            msg = json.loads(line.split(" ", 1)[1])
            data = msg.get("data", {})
            if data.get("e") == "trade":
                # `m` true: the buyer was the maker, so the aggressor sold.
                q = Decimal(data["q"])
                flow += -q if data["m"] else q
    assert f"net aggressor flow: {flow:+.4f} BTC" in r.stdout


def test_readme_embeds_the_example_verbatim() -> None:
    readme = (REPO / "README.md").read_text()
    body = (REPO / "examples" / "order_flow.py").read_text().split('"""', 2)[2].strip()
    assert body in readme
