"""Multi-timeframe signals against an independent computation: polars resampling of real
1-minute BTC bars, TA-Lib on each timeframe, the rules and the rising edge in numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import talib

import baconalgo as ba
from baconalgo.errors import ConfigError
from baconalgo.signal import Signal, from_toml, parse_rule, records
from tests.conftest import REPO

MIN = 60_000_000_000
SCALE = 0.001


def minute_trades() -> tuple[np.ndarray, pl.DataFrame]:
    df = pl.read_csv(REPO / "data" / "bars" / "btc_perp_1m_2022-01.csv.gz")
    df = df.with_columns(
        pl.col("timestamp")
        .str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="ns")
        .cast(pl.Int64)
        .alias("t"),
        (pl.col("close") * 1000).round().cast(pl.Int64).alias("ticks"),
    )
    # One trade per real minute bar, at its close price, half-way through the minute.
    ev = ba.events(df.height)
    ev["kind"] = ba.EventKind.TRADE
    ev["ts_event_ns"] = df["t"].to_numpy() + 30_000_000_000
    ev["price_ticks"] = df["ticks"].to_numpy()
    ev["qty_lots"] = 1
    return ev, df


def closes(df: pl.DataFrame, every: str) -> pl.DataFrame:
    out = df.sort("t").with_columns(pl.col("t").cast(pl.Datetime("ns")))
    out = out.group_by_dynamic("t", every=every, closed="left", label="left").agg(
        pl.col("ticks").last()
    )
    return out.with_columns((pl.col("t").cast(pl.Int64)).alias("start"))


def expected_fires(df: pl.DataFrame) -> list[tuple[int, float, float, float]]:
    c5 = closes(df, "5m")
    c60 = closes(df, "1h")
    px5 = c5["ticks"].to_numpy() * SCALE
    px60 = c60["ticks"].to_numpy() * SCALE
    rsi5 = talib.RSI(px5, 14)
    ema60 = talib.EMA(px60, 20)
    end5 = c5["start"].to_numpy() + 5 * MIN
    end60 = c60["start"].to_numpy() + 60 * MIN
    fires, was = [], False
    # Every 5-minute bar but the last closes when the next trade arrives.
    for k in range(len(end5) - 1):
        j = np.searchsorted(end60, end5[k], side="right") - 1
        close_h, ema_h = (px60[j], ema60[j]) if j >= 0 else (np.nan, np.nan)
        now = bool(rsi5[k] < 35) and bool(close_h > ema_h)
        if now and not was:
            fires.append((int(end5[k]), float(rsi5[k]), float(close_h), float(ema_h)))
        was = now
    return fires


def test_multi_timeframe_signal_fires_exactly_where_the_independent_computation_says() -> None:
    trades, df = minute_trades()
    signal = Signal(["RSI(14)@5m < 35", "CLOSE@1h > EMA(20)@1h"], price_scale=SCALE, signal_id=9)
    runs = np.concatenate([signal.on_events(chunk) for chunk in np.array_split(trades, 50)])
    got = records(runs)
    want = expected_fires(df)
    assert len(want) > 5
    assert [r["ts_ns"] for r in got] == [w[0] for w in want]
    for r, (_, rsi, close_h, ema_h) in zip(got, want, strict=True):
        assert r["signal_id"] == 9 and r["side"] == 1 and r["score"] == 1.0
        (h1, l1, r1), (h2, l2, r2) = r["rules"]
        assert h1 and h2
        assert (l1, r1) == (rsi, 35.0)
        assert (l2, r2) == (close_h, ema_h)


def test_votes_fire_more_often_than_all(tmp_path: Path) -> None:
    trades, _ = minute_trades()
    rules = ["RSI(14)@5m < 35", "CLOSE@1h > EMA(20)@1h"]
    all_of = records(Signal(rules, price_scale=SCALE).on_events(trades))
    one_of = records(
        Signal(rules, fusion="votes", min_votes=1, price_scale=SCALE).on_events(trades)
    )
    assert len(one_of) > len(all_of)
    cfg = tmp_path / "s.toml"
    cfg.write_text(
        '[signal]\nid = 3\nside = "sell"\nfusion = "weighted"\nthreshold = 0.7\n'
        f"price_scale = {SCALE}\n"
        'rules = ["RSI(14)@5m > 65 *3", "CLOSE@1h < EMA(20)@1h"]\n'
    )
    fired = records(from_toml(cfg).on_events(trades))
    assert fired and all(
        r["side"] == 2 and r["signal_id"] == 3 and r["score"] >= 0.7 for r in fired
    )


def test_signal_runs_travel_the_bus() -> None:
    trades, _ = minute_trades()
    runs = Signal(["RSI(14)@5m < 35"], price_scale=SCALE).on_events(trades)
    bus = ba.Bus(1 << 16)
    bus.add_poller("p")
    bus.start()
    bus.publish_batch(runs)
    got = bus.poll("p")
    assert (got["kind"] == ba.EventKind.SIGNAL).all()
    assert records(got) == records(runs)
    bus.close()


def test_bad_signal_definitions_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected KIND"):
        parse_rule("RSI(14) < 30")
    with pytest.raises(ValueError, match="expected 'series op"):
        parse_rule("RSI(14)@5m == 30")
    with pytest.raises(ValueError, match="unknown signal indicator"):
        Signal(["MAMA(3)@5m < 1"])
    with pytest.raises(ValueError, match="votes"):
        Signal(["CLOSE@1m > 1"], fusion="votes", min_votes=2)
    with pytest.raises(ValueError, match="rule 0"):
        Signal(["RSI(1)@1m < 30"])
    with pytest.raises(ValueError, match="side"):
        Signal(["CLOSE@1m > 1"], side="up")
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[signal]\nrulez = ["CLOSE@1m > 1"]\n')
    with pytest.raises(ConfigError, match=r"signal\.rulez"):
        from_toml(cfg)
