"""The bus from Python: graph building, single and batched publish, polling, counters,
shutdown drain, and bad input getting a clear exception."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import baconalgo as ba
from baconalgo import _core
from tests.conftest import digest_sum


def make_events(n: int, start: int = 0) -> np.ndarray:
    ev = ba.events(n)
    ev["kind"] = ba.EventKind.TRADE
    ev["seq"] = np.arange(start, start + n, dtype=np.uint64)
    ev["price_ticks"] = np.arange(n, dtype=np.int64) * 7 - 3
    ev["qty_lots"] = np.arange(n, dtype=np.int64) % 5
    ev["side"] = np.arange(n) % 3
    ev["instrument"] = np.arange(n) % 4
    ev["ts_recv_ns"] = 1_700_000_000_000_000_000 + np.arange(n, dtype=np.uint64)
    return ev


def started_bus(capacity: int = 8192, **kw: str) -> ba.Bus:
    bus = ba.Bus(capacity, **kw)
    bus.add_consumer("kinds", "kind_counts")
    bus.add_consumer("checksum", "checksum", after=["kinds"])
    bus.add_poller("py", after=["checksum"])
    bus.start()
    return bus


def drain(bus: ba.Bus, name: str, n: int) -> np.ndarray:
    got: list[np.ndarray] = [ba.events(0)]
    total = 0
    while total < n:
        batch = bus.poll(name, 1 << 16, 1.0)
        got.append(batch)
        total += len(batch)
    return np.concatenate(got)


def test_event_dtype_is_64_bytes_with_documented_fields() -> None:
    dt = ba.EVENT_DTYPE
    assert dt.itemsize == 64
    assert list(dt.names or ()) == [
        "ts_event_ns", "ts_recv_ns", "seq", "price_ticks", "qty_lots", "id", "aux",
        "instrument", "kind", "side", "venue", "flags",
    ]  # fmt: skip
    fields = dt.fields
    assert fields is not None
    offsets = [fields[n][1] for n in dt.names or ()]
    assert offsets == [0, 8, 16, 24, 32, 40, 48, 56, 60, 61, 62, 63]
    assert {k.name.lower(): int(k) for k in ba.EventKind} == _core.EVENT_KINDS


def test_batch_round_trips_bit_for_bit_through_a_pipeline() -> None:
    bus = started_bus()
    events = make_events(5000)
    assert bus.publish_batch(events) == 5000
    got = drain(bus, "py", 5000)
    assert got.dtype == ba.EVENT_DTYPE
    assert got.tobytes() == events.tobytes()
    stats = bus.handler_stats("checksum")
    assert stats == {"events": 5000, "digest_sum": digest_sum(events)}
    kinds = bus.handler_stats("kinds")
    assert kinds["trade"] == 5000 and kinds["quote"] == 0
    bus.close()


def test_single_publish_sets_every_field_and_defaults_receive_time_to_now() -> None:
    bus = started_bus()
    before = ba.now_ns()
    bus.publish(ba.EventKind.QUOTE, instrument=3, price_ticks=-12, qty_lots=9, side=ba.Side.ASK,
                ts_event_ns=11, seq=12, id=13, aux=-14, venue=2, flags=1)  # fmt: skip
    bus.publish(ba.EventKind.TRADE, ts_recv_ns=42)
    got = drain(bus, "py", 2)
    e = got[0]
    assert (e["kind"], e["instrument"], e["price_ticks"], e["qty_lots"], e["side"]) == (
        2,
        3,
        -12,
        9,
        2,
    )
    assert (e["ts_event_ns"], e["seq"], e["id"], e["aux"], e["venue"], e["flags"]) == (
        11,
        12,
        13,
        -14,
        2,
        1,
    )
    assert before <= e["ts_recv_ns"] <= ba.now_ns()
    assert got[1]["ts_recv_ns"] == 42
    bus.close()


def test_multicast_pollers_each_get_every_event() -> None:
    bus = ba.Bus(64)
    bus.add_poller("a")
    bus.add_poller("b")
    bus.start()
    events = make_events(40)
    bus.publish_batch(events)
    assert drain(bus, "a", 40).tobytes() == events.tobytes()
    assert drain(bus, "b", 40).tobytes() == events.tobytes()
    bus.close()


def test_full_ring_raises_busfull_without_blocking_and_loses_nothing() -> None:
    bus = ba.Bus(8)
    bus.add_poller("slow")
    bus.start()
    bus.publish_batch(make_events(8))
    with pytest.raises(ba.BusFull):
        bus.publish_batch(make_events(1, start=8), block=False)
    assert bus.counters()["consumers"][0]["lag"] == 8
    got = bus.poll("slow", 100)
    assert got["seq"].tolist() == list(range(8))
    bus.close()


def test_blocking_publish_waits_for_a_python_consumer_with_the_gil_released() -> None:
    bus = ba.Bus(16, wait="blocking")
    bus.add_poller("py")
    bus.start()
    events = make_events(10_000)
    received: list[np.ndarray] = []

    def consume() -> None:
        received.append(drain(bus, "py", 10_000))

    t = threading.Thread(target=consume)
    t.start()
    bus.publish_batch(events)  # 625 ring-fulls: only works if the poller thread runs meanwhile
    t.join(30)
    assert not t.is_alive()
    assert received[0].tobytes() == events.tobytes()
    assert bus.counters()["producer_waits"] > 0
    bus.close()


def test_multi_producer_threads_lose_and_duplicate_nothing() -> None:
    bus = ba.Bus(256, producer="multi")
    bus.add_consumer("checksum", "checksum")
    bus.add_poller("py", after=["checksum"])
    bus.start()
    per = 20_000
    batches = [make_events(per, start=i * per) for i in range(3)]
    for i, b in enumerate(batches):
        b["venue"] = i
    threads = [
        threading.Thread(
            target=lambda b=b: [bus.publish_batch(b[j : j + 97]) for j in range(0, per, 97)]
        )
        for b in batches
    ]
    got: list[np.ndarray] = []
    reader = threading.Thread(target=lambda: got.append(drain(bus, "py", 3 * per)))
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reader.join(30)
    out = got[0]
    assert len(out) == 3 * per
    for i in range(3):
        mine = out[out["venue"] == i]
        assert mine.tobytes() == batches[i].tobytes(), "per-producer order must hold"
    assert bus.handler_stats("checksum")["digest_sum"] == digest_sum(np.concatenate(batches))
    bus.close()


def test_close_drains_rust_consumers_then_poller_gets_rest_then_busclosed() -> None:
    bus = started_bus()
    events = make_events(3000)
    bus.publish_batch(events)
    bus.close()
    assert bus.closed
    assert bus.handler_stats("checksum")["events"] == 3000
    with pytest.raises(ba.BusClosed):
        bus.publish(ba.EventKind.TRADE)
    assert bus.poll("py", 10_000).tobytes() == events.tobytes()
    with pytest.raises(ba.BusClosed, match="drained"):
        bus.poll("py")
    bus.close()  # idempotent


def test_counters_report_lag_per_consumer() -> None:
    bus = ba.Bus(64)
    bus.add_poller("p")
    bus.start()
    bus.publish_batch(make_events(10))
    c = bus.counters()
    assert c["published"] == 10
    (p,) = c["consumers"]
    assert (p["name"], p["lag"], p["sequence"], p["alive"], p["is_poller"]) == (
        "p",
        10,
        0,
        True,
        True,
    )
    bus.poll("p", 4)
    assert bus.counters()["consumers"][0]["lag"] == 6
    bus.close()


def test_poll_into_fills_a_preallocated_array() -> None:
    bus = started_bus()
    events = make_events(100)
    bus.publish_batch(events)
    out = ba.events(64)
    n = bus.poll_into("py", out, 1.0)
    assert 0 < n <= 64
    assert out[:n].tobytes() == events[:n].tobytes()
    bus.close()


@pytest.mark.parametrize(
    ("make", "exc", "message"),
    [
        (lambda: np.zeros(3), TypeError, "dtype EVENT_DTYPE"),
        (lambda: np.zeros((2, 2), dtype=ba.EVENT_DTYPE), ValueError, "1-D"),
        (lambda: make_events(10)[::2], ValueError, "C-contiguous"),
        (lambda: [1, 2, 3], TypeError, "numpy array"),
        (lambda: _with(make_events(5), 3, "kind", 99), ValueError, r"events\[3\]: kind 99"),
        (lambda: _with(make_events(5), 1, "side", 7), ValueError, r"events\[1\]: side 7"),
    ],
)
def test_bad_batches_get_a_clear_error_and_publish_nothing(make, exc, message) -> None:
    bus = started_bus()
    with pytest.raises(exc, match=message):
        bus.publish_batch(make())
    assert bus.counters()["published"] == 0
    bus.close()


def _with(ev: np.ndarray, i: int, field: str, value: int) -> np.ndarray:
    ev[i][field] = value
    return ev


def test_graph_and_lifecycle_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="power of two"):
        ba.Bus(1000)
    with pytest.raises(ValueError, match="producer must be"):
        ba.Bus(64, producer="many")
    with pytest.raises(ValueError, match="wait must be"):
        ba.Bus(64, wait="sleepy")
    bus = ba.Bus(64)
    with pytest.raises(ValueError, match="unknown handler"):
        bus.add_consumer("x", "no_such_handler")
    with pytest.raises(ValueError, match="not defined"):
        bus.add_poller("p", after=["ghost"])
    bus.add_poller("p")
    with pytest.raises(ValueError, match="already defined"):
        bus.add_poller("p")
    with pytest.raises(ba.BusError, match="not started"):
        bus.publish(ba.EventKind.TRADE)
    bus.start()
    with pytest.raises(ba.BusError, match="fixed once"):
        bus.add_poller("late")
    with pytest.raises(ba.BusError, match="already started"):
        bus.start()
    with pytest.raises(ValueError, match="not defined"):
        bus.poll("ghost")
    with pytest.raises(OverflowError):
        bus.publish(ba.EventKind.TRADE, side=-1)
    with pytest.raises(ValueError, match="timeout"):
        bus.poll("p", 10, -1.0)
    bus.close()


def test_context_manager_closes() -> None:
    with ba.Bus(64) as bus:
        bus.add_poller("p")
        bus.start()
    assert bus.closed


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=12),
    capacity_log2=st.integers(min_value=1, max_value=9),
)
def test_property_any_batch_sizes_arrive_in_order_exactly_once(
    sizes: list[int], capacity_log2: int
) -> None:
    bus = ba.Bus(1 << capacity_log2)
    bus.add_consumer("checksum", "checksum")
    bus.add_poller("py", after=["checksum"])
    bus.start()
    events = make_events(sum(sizes))
    got: list[np.ndarray] = []
    reader = threading.Thread(target=lambda: got.append(drain(bus, "py", len(events))))
    reader.start()
    offset = 0
    for n in sizes:
        bus.publish_batch(events[offset : offset + n])
        offset += n
    reader.join(30)
    assert got[0].tobytes() == events.tobytes()
    assert bus.handler_stats("checksum")["digest_sum"] == digest_sum(events)
    bus.close()


def test_cpu_features_agree_with_the_kernel() -> None:
    flags: set[str] = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    found = ba.cpu_features()
    assert found["sse4.2"] == ("sse4_2" in flags)
    assert found["avx2"] == ("avx2" in flags)
    assert found["fma"] == ("fma" in flags)
    assert found["avx512f"] == ("avx512f" in flags)
