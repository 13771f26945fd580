"""The main job end to end: `python -m baconalgo run` as a user starts it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baconalgo", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_run_replays_the_recording_serves_metrics_and_prints_a_summary() -> None:
    r = run_cli("run", "--speed", "0", "--port", "0", "--exit-when-done")
    assert r.returncode == 0, r.stderr
    assert "/api/status" in r.stdout and "/api/metrics" in r.stdout
    assert "replayed 41249 messages" in r.stdout
    assert "(0 rejected)" in r.stdout
    assert "ws://127.0.0.1:" in r.stdout and "1 REST snapshots" in r.stdout
    assert "0 reconnects, 0 resyncs, 0 gaps" in r.stdout
    # The synchronised book's top after the recording's last diff (u = 50093421584).
    assert "BTCUSDT: book synced, bid 1.00870000 @ 61685.99 ask 2.29327000 @ 61686.00" in r.stdout


def test_bad_configuration_exits_2_naming_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[bus]\ncapacity = 1000\n")
    r = run_cli("run", "--config", str(cfg))
    assert r.returncode == 2
    assert "bus.capacity" in r.stderr


def test_version_and_cpu() -> None:
    import baconalgo

    assert run_cli("version").stdout.strip() == baconalgo.__version__
    out = run_cli("cpu").stdout
    assert "avx2" in out
