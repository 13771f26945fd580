"""The metrics server over real HTTP on 127.0.0.1, in front of a real engine replaying the
bundled Binance recording."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from baconalgo.config import load_config
from baconalgo.engine import Engine
from baconalgo.server import RunningServer, serve


@dataclass
class Served:
    engine: Engine
    url: str


def _serve_in_thread(engine: Engine) -> Iterator[str]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, RunningServer] = {}

    async def main() -> None:
        holder["server"] = await serve(engine, "127.0.0.1", 0)
        ready.set()
        await holder["server"].task

    t = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    t.start()
    assert ready.wait(10), "server did not start"
    try:
        yield holder["server"].url
    finally:
        holder["server"].server.should_exit = True
        t.join(10)


@pytest.fixture
def served() -> Iterator[Served]:
    config = load_config(None, environ={"BACONALGO__REPLAY__SPEED": "0"})
    engine = Engine(config)
    engine.start()
    for url in _serve_in_thread(engine):
        yield Served(engine, url)
    engine.stop()


def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def last_book_ticker(path: Path) -> dict[str, str]:
    last: dict[str, str] = {}
    with gzip.open(path, "rt") as f:
        for line in f:
            msg = json.loads(line.split(" ", 1)[1])
            if msg.get("stream", "").endswith("@bookTicker"):
                last = msg["data"]
    return last


def test_status_reports_the_replay_and_the_live_top_of_book(
    served: Served, spot_recording: Path
) -> None:
    wait_until(served.engine.feed_done)
    with httpx.Client(base_url=served.url) as http:
        wait_until(
            lambda: http.get("/api/status").json()["components"]["bus"]["consumers"][-1]["lag"] == 0
        )
        status = http.get("/api/status").json()
    assert status["version"]
    assert set(status["cpu_features"]) >= {"sse4.2", "avx2", "fma", "avx512f"}
    assert status["uptime_seconds"] > 0
    feed = status["components"]["feed"]
    # 41,248 streamed messages and the SUBSCRIBE reply over the websocket; the REST
    # snapshot line of the recording now comes over HTTP.
    assert feed["messages"] == 41_249 and feed["rejected"] == 0
    assert feed["control"] == 1 and feed["snapshots"] == 1
    assert (feed["connects"], feed["reconnects"], feed["gaps"], feed["resyncs"]) == (1, 0, 0, 0)
    assert feed["url"].startswith("ws://127.0.0.1:")
    bus = status["components"]["bus"]
    assert bus["published"] == feed["events"] > 0
    assert all(c["sequence"] == bus["published"] for c in bus["consumers"])
    assert status["components"]["handlers"]["checksum"]["events"] == feed["events"]
    # The exchange's own last bookTicker has the prices of the synchronised book's top
    # (its quantities are newer than the last 100 ms diff, its prices are the book's).
    ticker = last_book_ticker(spot_recording)
    top = status["components"]["top_of_book"]["BTCUSDT"]
    assert top["book_state"] == "synced" and not top["crossed"]
    assert (Decimal(top["bid"]), Decimal(top["ask"])) == (
        Decimal(ticker["b"]),
        Decimal(ticker["a"]),
    )
    # The book's top after the last diff (u = 50093421584), from the recording.
    assert (top["bid_qty"], top["ask_qty"]) == ("1.00870000", "2.29327000")
    assert top["book_update_id"] == 50_093_421_584
    assert status["config"]["server"]["host"] == "127.0.0.1"


def test_health_is_ready_while_every_consumer_runs(served: Served) -> None:
    r = httpx.get(f"{served.url}/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["live"] and body["ready"] and body["bus_running"]
    assert set(body["consumers"]) == {"kind_counts", "checksum", "monitor", "paper"}


def test_health_turns_503_when_a_consumer_stalls(tmp_path: Path) -> None:
    config = load_config(
        None,
        environ={
            "BACONALGO__REPLAY__SPEED": "0",
            "BACONALGO__BUS__CAPACITY": "1024",
            "BACONALGO__SERVER__STALL_SECONDS": "0.2",
        },
    )
    engine = Engine(config)
    # Start everything but the monitor: its poller then falls a whole ring behind.
    engine.bus.start()
    engine.feed.start()
    try:
        for url in _serve_in_thread(engine):
            wait_until(lambda: engine.bus.counters()["producer_waits"] > 0)
            httpx.get(f"{url}/api/health")
            time.sleep(0.3)
            r = httpx.get(f"{url}/api/health")
            assert r.status_code == 503
            body = r.json()
            assert not body["ready"]
            assert body["consumers"]["monitor"]["stalled"]
            assert not body["consumers"]["checksum"]["stalled"]
    finally:
        engine.bus.close()
        engine.feed.stop()


def test_metrics_are_prometheus_text_with_real_figures(served: Served) -> None:
    wait_until(served.engine.feed_done)
    r = httpx.get(f"{served.url}/api/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    published = families["baconalgo_bus_published"].samples[0].value
    assert published == served.engine.bus.counters()["published"] > 0
    consumed = {s.labels["consumer"]: s.value for s in families["baconalgo_bus_consumed"].samples}
    assert set(consumed) == {"kind_counts", "checksum", "monitor", "paper"}
    rss = families["baconalgo_process_resident_memory_bytes"].samples[0].value
    assert 0.5 < rss / psutil.Process().memory_info().rss < 2.0
    threads = families["baconalgo_process_threads"].samples[0].value
    assert threads == pytest.approx(psutil.Process().num_threads(), abs=4)
    assert families["baconalgo_feed_messages"].samples[0].value == 41_249
    # The adapter's connection health and the paper session's risk engine, as in /api/status.
    feed = served.engine.status()["components"]["feed"]
    for name in ("connects", "reconnects", "resyncs", "gaps", "snapshots", "handovers"):
        assert families[f"baconalgo_adapter_{name}"].samples[0].value == feed[name], name
    assert families["baconalgo_adapter_connects"].samples[0].value >= 1
    reasons = {s.labels["reason"] for s in families["baconalgo_feed_rejected_by_reason"].samples}
    assert reasons == set(feed["rejected_by_reason"])
    wait_until(lambda: "risk" in (served.engine.status()["components"]["paper"] or {}))
    risk = served.engine.status()["components"]["paper"]["risk"]
    r = httpx.get(f"{served.url}/api/metrics")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    assert families["baconalgo_risk_state"].samples[0].value == 0  # active
    assert families["baconalgo_risk_accepted"].samples[0].value >= risk["accepted"]


def test_metrics_as_json_when_asked(served: Served) -> None:
    for kwargs in ({"params": {"format": "json"}}, {"headers": {"accept": "application/json"}}):
        r = httpx.get(f"{served.url}/api/metrics", **kwargs)  # type: ignore[arg-type]
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        assert body["bus"]["published_total"] >= 0
        assert body["system"]["system_memory_total_bytes"] == psutil.virtual_memory().total
