"""Bars against polars' group_by_dynamic on real trades and real 1-minute bars, threshold
bars against a plain-Python reference, and live bars equal to batch bars."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import baconalgo as ba
from baconalgo import bars
from tests.conftest import REPO

BARS_CSV = REPO / "data" / "bars" / "btc_perp_1m_2022-01.csv.gz"


def recorded_events(path: Path, marker: bytes = b'"e":"trade"') -> np.ndarray:
    """The recording's messages containing ``marker``, decoded (receive time as given)."""
    dec = ba.BinanceDecoder("spot", [("BTCUSDT", "0.01", "0.00000001")])
    out = []
    with gzip.open(path, "rb") as f:
        for line in f:
            ts, _, msg = line.partition(b" ")
            if marker in msg:
                out.append(dec.decode(msg, int(ts)))
    return np.concatenate(out)


@pytest.fixture(scope="module")
def trades(spot_recording: Path) -> np.ndarray:
    t = recorded_events(spot_recording)
    assert len(t) == 9_757
    # The exchange's own trade times are not always ordered across messages; bars need a
    # time-ordered stream, as polars' group_by_dynamic does.
    return t[np.argsort(t["ts_event_ns"], kind="stable")]


def polars_ohlcv(df: pl.DataFrame, every: str, agg_trades: bool = True) -> pl.DataFrame:
    return (
        df.sort("t")
        .group_by_dynamic("t", every=every, closed="left", label="left")
        .agg(
            pl.col("price").first().alias("open"),
            pl.col("price").max().alias("high"),
            pl.col("price").min().alias("low"),
            pl.col("price").last().alias("close"),
            pl.col("qty").sum().alias("volume"),
            (pl.len() if agg_trades else pl.col("trades").sum()).alias("trades"),
        )
    )


@pytest.mark.parametrize(
    ("every", "every_ns"),
    [("1s", bars.SECOND_NS), ("1m", bars.MINUTE_NS), ("5m", 5 * bars.MINUTE_NS)],
)
def test_time_bars_equal_polars_group_by_dynamic_on_real_trades(
    trades: np.ndarray, every: str, every_ns: int
) -> None:
    ours = bars.build(
        trades["ts_event_ns"], trades["price_ticks"], trades["qty_lots"], every_ns=every_ns
    )
    df = pl.DataFrame(
        {
            "t": pl.Series(trades["ts_event_ns"].astype(np.int64)).cast(pl.Datetime("ns")),
            "price": trades["price_ticks"],
            "qty": trades["qty_lots"],
        }
    )
    theirs = polars_ohlcv(df, every)
    assert len(ours["open"]) == theirs.height > 0
    assert ours["ts_open_ns"].tolist() == theirs["t"].cast(pl.Int64).to_list()
    for col in ("open", "high", "low", "close", "volume", "trades"):
        assert ours[col].tolist() == theirs[col].to_list(), col
    assert ours["closed"][:-1].all() and not ours["closed"][-1]


def real_minute_bars() -> pl.DataFrame:
    df = pl.read_csv(BARS_CSV)
    df = df.with_columns(
        pl.col("timestamp").str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="ns").alias("t")
    )
    # Fixed point: prices on a 0.001 grid, volumes on 1e-8; checked exact below.
    for c in ("open", "high", "low", "close"):
        df = df.with_columns((pl.col(c) * 1000).round().cast(pl.Int64).alias(f"{c}_ticks"))
    df = df.with_columns((pl.col("volume") * 1e8).round().cast(pl.Int64).alias("volume_lots"))
    for c in ("open", "high", "low", "close"):
        assert ((df[f"{c}_ticks"] / 1000 - df[c]).abs() < 1e-9).all(), c
    assert ((df["volume_lots"] / 1e8 - df["volume"]).abs() <= 1e-12 * df["volume"]).all()
    return df


@pytest.mark.parametrize(
    ("every", "every_ns"), [("5m", 5 * bars.MINUTE_NS), ("1h", bars.HOUR_NS), ("1d", bars.DAY_NS)]
)
def test_resampled_real_bars_equal_polars(every: str, every_ns: int) -> None:
    df = real_minute_bars()
    ours = bars.resample(
        df["t"].cast(pl.Int64).to_numpy().astype(np.uint64),
        df["open_ticks"].to_numpy(),
        df["high_ticks"].to_numpy(),
        df["low_ticks"].to_numpy(),
        df["close_ticks"].to_numpy(),
        df["volume_lots"].to_numpy(),
        every_ns=every_ns,
    )
    theirs = (
        df.sort("t")
        .group_by_dynamic("t", every=every, closed="left", label="left")
        .agg(
            pl.col("open_ticks").first(),
            pl.col("high_ticks").max(),
            pl.col("low_ticks").min(),
            pl.col("close_ticks").last(),
            pl.col("volume_lots").sum(),
        )
    )
    assert ours["ts_open_ns"].tolist() == theirs["t"].cast(pl.Int64).to_list()
    for ours_col, theirs_col in (
        ("open", "open_ticks"),
        ("high", "high_ticks"),
        ("low", "low_ticks"),
        ("close", "close_ticks"),
        ("volume", "volume_lots"),
    ):
        assert ours[ours_col].tolist() == theirs[theirs_col].to_list(), ours_col
    assert datetime.fromtimestamp(int(ours["ts_open_ns"][0]) / 1e9).year in (2021, 2022)


def reference_threshold_bars(
    qty: list[int], price: list[int], reached
) -> list[tuple[int, int, int]]:
    """(first index, last index, volume) of each bar, closing on the trade that reaches it."""
    out, start, vol, notional = [], 0, 0, 0
    for i, (q, p) in enumerate(zip(qty, price, strict=True)):
        vol += q
        notional += q * p
        if reached(i - start + 1, vol, notional):
            out.append((start, i, vol))
            start, vol, notional = i + 1, 0, 0
    if start < len(qty):
        out.append((start, len(qty) - 1, vol))
    return out


@pytest.mark.parametrize(
    ("kwargs", "reached"),
    [
        ({"trades": 50}, lambda n, v, d: n >= 50),
        ({"volume_lots": 300_000_000}, lambda n, v, d: v >= 300_000_000),
        ({"notional": 10**16}, lambda n, v, d: d >= 10**16),
    ],
)
def test_threshold_bars_equal_a_plain_python_reference(trades: np.ndarray, kwargs, reached) -> None:
    ours = bars.build(trades["ts_event_ns"], trades["price_ticks"], trades["qty_lots"], **kwargs)
    ref = reference_threshold_bars(
        trades["qty_lots"].tolist(), trades["price_ticks"].tolist(), reached
    )
    assert len(ours["open"]) == len(ref) > 10
    assert ours["open"].tolist() == [int(trades["price_ticks"][a]) for a, _, _ in ref]
    assert ours["close"].tolist() == [int(trades["price_ticks"][b]) for _, b, _ in ref]
    assert ours["volume"].tolist() == [v for _, _, v in ref]
    assert ours["ts_open_ns"].tolist() == [int(trades["ts_event_ns"][a]) for a, _, _ in ref]


def test_live_bars_from_events_equal_batch_bars(trades: np.ndarray) -> None:
    live = bars.LiveBars(every_ns=bars.MINUTE_NS)
    runs = [live.on_events(chunk) for chunk in np.array_split(trades, 37)]
    closed = np.concatenate(runs)
    assert (closed["kind"] == ba.EventKind.BAR).all()
    streamed = bars.from_events(closed)
    batch = bars.build(
        trades["ts_event_ns"], trades["price_ticks"], trades["qty_lots"], every_ns=bars.MINUTE_NS
    )
    n = len(streamed["open"])
    assert n == len(batch["open"]) - 1  # the last window is still open
    for col in ("ts_open_ns", "open", "high", "low", "close", "volume", "trades"):
        assert streamed[col].tolist() == batch[col][:n].tolist(), col
    tail = bars.from_events(live.close_until(int(batch["ts_close_ns"][-1])))
    assert tail["close"].tolist() == batch["close"][-1:].tolist()


def test_bar_runs_travel_the_bus(trades: np.ndarray) -> None:
    live = bars.LiveBars(trades=100)
    runs = live.on_events(trades)
    bus = ba.Bus(1 << 14)
    bus.add_poller("p")
    bus.start()
    bus.publish_batch(runs)
    assert (
        bars.from_events(bus.poll("p"))["close"].tolist()
        == bars.from_events(runs)["close"].tolist()
    )
    bus.close()


def test_bad_bar_requests_are_clear() -> None:
    ts = np.array([2, 1], dtype=np.uint64)
    px = np.array([1, 1], dtype=np.int64)
    with pytest.raises(ValueError, match="exactly one"):
        bars.build(ts, px, px)
    with pytest.raises(ValueError, match="exactly one"):
        bars.build(ts, px, px, trades=1, every_ns=5)
    with pytest.raises(ValueError, match="must not decrease"):
        bars.build(ts, px, px, trades=1)
    with pytest.raises(ValueError, match="positive"):
        bars.LiveBars(volume_lots=0)
    with pytest.raises(ValueError, match="4 events"):
        bars.from_events(ba.events(3))
    with pytest.raises(TypeError):
        bars.build(ts.astype(np.float64), px, px, trades=1)


@pytest.fixture(scope="module")
def quotes(spot_recording: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The recording's bookTicker quotes: each decodes to a bid and an ask event sharing
    the receive time and update id."""
    events = recorded_events(spot_recording, b"@bookTicker")
    bid, ask = events[events["side"] == 1], events[events["side"] == 2]
    assert len(bid) == len(ask) > 20_000
    assert (bid["seq"] == ask["seq"]).all() and (bid["ts_recv_ns"] == ask["ts_recv_ns"]).all()
    return bid["ts_recv_ns"], bid["price_ticks"], ask["price_ticks"]


@pytest.mark.parametrize("price", ["mid", "bid", "ask"])
@pytest.mark.parametrize(
    ("every", "every_ns"),
    [("1s", bars.SECOND_NS), ("1m", bars.MINUTE_NS), ("1h", bars.HOUR_NS), ("1d", bars.DAY_NS)],
)
def test_quote_bars_equal_polars_group_by_dynamic_on_real_quotes(
    quotes: tuple[np.ndarray, np.ndarray, np.ndarray], price: str, every: str, every_ns: int
) -> None:
    ts, bid, ask = quotes
    ours = bars.build_quotes(ts, bid, ask, every_ns=every_ns, price=price)  # type: ignore[arg-type]
    df = pl.DataFrame(
        {"t": pl.Series(ts.astype(np.int64)).cast(pl.Datetime("ns")), "bid": bid, "ask": ask}
    )
    px = {"mid": (pl.col("bid") + pl.col("ask")) / 2, "bid": pl.col("bid"), "ask": pl.col("ask")}
    theirs = (
        df.with_columns(px[price].cast(pl.Float64).alias("p"))
        .group_by_dynamic("t", every=every, closed="left", label="left")
        .agg(
            pl.col("p").first().alias("open"),
            pl.col("p").max().alias("high"),
            pl.col("p").min().alias("low"),
            pl.col("p").last().alias("close"),
            pl.len().alias("quotes"),
        )
    )
    assert len(ours["open"]) == theirs.height > 0
    assert ours["ts_open_ns"].tolist() == theirs["t"].cast(pl.Int64).to_list()
    for col in ("open", "high", "low", "close", "quotes"):
        assert ours[col].tolist() == theirs[col].to_list(), col
    assert ours["closed"][:-1].all() and not ours["closed"][-1]


def test_crossed_or_unordered_quotes_are_refused_naming_the_row() -> None:
    ts = np.array([1, 2, 3], dtype=np.uint64)
    with pytest.raises(ValueError, match="index 2 is crossed"):
        bars.build_quotes(ts, [5, 5, 7], [6, 6, 6], every_ns=10)
    with pytest.raises(ValueError, match="index 1"):
        bars.build_quotes(ts[::-1].copy(), [5, 5, 5], [6, 6, 6], every_ns=10)
    with pytest.raises(ValueError, match="price must be"):
        bars.build_quotes(ts, [5, 5, 5], [6, 6, 6], every_ns=10, price="last")  # type: ignore[arg-type]


@pytest.mark.parametrize("price", ["mid", "bid", "ask"])
def test_live_quote_bars_from_bus_events_equal_batch_quote_bars(
    spot_recording: Path, price: str
) -> None:
    """The recording's bookTicker events, streamed in batches, give the batch quote bars
    of the same quotes (which equal polars' group_by_dynamic, tested above)."""
    events = recorded_events(spot_recording, b"@bookTicker")
    ask = events[events["side"] == 2]
    bid = events[events["side"] == 1]
    live = bars.LiveBars(every_ns=bars.SECOND_NS, quotes=price)  # type: ignore[arg-type]
    runs = np.concatenate([live.on_events(c) for c in np.array_split(events, 41)])
    assert live.skipped_quotes == 0
    streamed = bars.from_events(np.concatenate([runs, live.partial()]))
    assert streamed["half_ticks"].tolist() == [price == "mid"] * len(streamed["open"])
    scale = 0.5 if price == "mid" else 1.0
    batch = bars.build_quotes(
        ask["ts_event_ns"],
        bid["price_ticks"],
        ask["price_ticks"],
        every_ns=bars.SECOND_NS,
        price=price,  # type: ignore[arg-type]
    )
    assert len(streamed["open"]) == len(batch["open"]) > 100
    for col in ("open", "high", "low", "close"):
        assert (streamed[col] * scale).tolist() == batch[col].tolist(), col
    assert streamed["trades"].tolist() == batch["quotes"].tolist()


def test_live_quote_bars_are_time_bars_and_skip_crossed_quotes() -> None:
    with pytest.raises(ValueError, match="time bars"):
        bars.LiveBars(trades=10, quotes="mid")
    with pytest.raises(ValueError, match="'mid', 'bid' or 'ask'"):
        bars.LiveBars(every_ns=10, quotes="last")  # type: ignore[arg-type]
    q = ba.events(4)
    q["kind"] = ba.EventKind.QUOTE
    q["side"] = [1, 2, 1, 2]
    q["price_ticks"] = [100, 102, 105, 104]  # the second quote is crossed
    q["flags"] = [0, 1, 0, 1]
    q["ts_event_ns"] = [1, 1, 2, 2]
    live = bars.LiveBars(every_ns=10, quotes="mid")
    live.on_events(q)
    assert live.skipped_quotes == 1
    assert bars.from_events(live.partial())["close"].tolist() == [202]
