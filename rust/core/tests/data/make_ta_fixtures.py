#!/usr/bin/env python3
"""Generate TA-Lib reference fixtures for rust/core/tests/ta_vs_talib.rs.

Runs the real TA-Lib (`talib` package) on recorded BTC bars, a seeded random walk and edge
cases, and writes ta_fixtures.txt.gz next to this script (format in README.md).
"""

from __future__ import annotations

import csv
import gzip
import math
import os
import struct

import numpy as np
import talib

HERE = os.path.dirname(os.path.abspath(__file__))
NAN = float("nan")


def hexs(values) -> str:
    return " ".join(struct.pack(">d", float(v)).hex() for v in values)


def load_btc(n: int = 5000) -> dict[str, np.ndarray]:
    cols: dict[str, list[float]] = {k: [] for k in ("open", "high", "low", "close", "volume")}
    with gzip.open(os.path.join(HERE, "..", "..", "..", "..", "data", "bars", "btc_perp_1m_2022-01.csv.gz"), "rt") as f:
        for i, row in enumerate(csv.DictReader(f)):
            if i >= n:
                break
            for k in cols:
                cols[k].append(float(row[k]))
    data = {k: np.array(v, dtype=np.float64) for k, v in cols.items()}
    data["session"] = np.arange(len(data["close"])) // 60  # hourly sessions
    return data


def walk(n: int, seed: int, scale: float = 1.0, start: float = 100.0, tick: float | None = None):
    rng = np.random.default_rng(seed)
    close = start + np.cumsum(rng.normal(0, 1, n)) * scale
    spread_h = np.abs(rng.normal(0, 0.7, n)) * scale
    spread_l = np.abs(rng.normal(0, 0.7, n)) * scale
    open_ = close + rng.normal(0, 0.3, n) * scale
    high = np.maximum(close, open_) + spread_h
    low = np.minimum(close, open_) - spread_l
    volume = np.round(rng.uniform(0, 1000, n), 1)
    if tick is not None:
        # Round to a tick grid so that equal highs/lows (tie-breaking) are frequent.
        close, open_, high, low = (np.round(a / tick) * tick for a in (close, open_, high, low))
    return {
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "session": np.arange(n) // 50,
    }


def datasets() -> list[tuple[str, dict[str, np.ndarray], bool]]:
    """(name, columns, full parameter sweep?)"""
    out = [("btc", load_btc(), False), ("walk", walk(1000, 7, tick=0.5), True)]
    out.append(("walk_fine", walk(500, 11), True))
    n = 60
    const = {k: np.full(n, 100.0) for k in ("open", "high", "low", "close")}
    const["volume"] = np.full(n, 10.0)
    const["session"] = np.arange(n) // 20
    out.append(("constant", const, True))
    short = walk(6, 3)
    out.append(("short", short, True))
    nan = walk(400, 5, tick=0.25)
    for k in ("open", "high", "low", "close", "volume"):
        nan[k][:3] = NAN  # leading NaNs are skipped by talib
    nan["close"][[4, 150, 151]] = NAN
    nan["high"][200] = NAN
    nan["low"][260] = NAN
    nan["volume"][300] = NAN
    out.append(("nan", nan, True))
    out.append(("tiny", walk(300, 9, scale=1e-5, start=1e-3), True))
    zero = walk(300, 13, start=0.0, tick=1.0)
    out.append(("zero", zero, True))
    allnan = walk(5, 1)
    allnan["close"][:] = NAN
    out.append(("allnan", allnan, False))
    return out


def calls(full: bool):
    """(name, params, callable(d) -> output or tuple of outputs)"""
    p1 = [30, 1, 2, 7] if full else [30]
    c: list = []
    for name in ("SMA", "EMA", "WMA", "DEMA", "TEMA", "KAMA"):
        for p in p1:
            c.append((name, (p,), lambda d, n=name, p=p: getattr(talib, n)(d["close"], timeperiod=p)))
    for p in ([14, 2, 7, 1] if full else [14]):
        c.append(("RSI", (p,), lambda d, p=p: talib.RSI(d["close"], timeperiod=p)))
    for f, s, g in ([(12, 26, 9), (2, 3, 1), (26, 12, 9), (5, 5, 2), (1, 3, 2)] if full else [(12, 26, 9)]):
        c.append(("MACD", (f, s, g), lambda d, f=f, s=s, g=g: talib.MACD(d["close"], f, s, g)))
    bb = [(20, 2.0, 2.0, 0)]
    if full:
        bb += [(2, 1.0, 1.0, 0), (10, 1.5, 2.5, 0), (20, 2.0, 2.0, 1), (10, 2.0, 1.0, 2),
               (10, 2.0, 2.0, 3), (10, 2.0, 2.0, 4), (10, 2.0, 2.0, 6), (10, 2.0, 2.0, 5)]
    for p, u, dn, m in bb:
        c.append(("BBANDS", (p, u, dn, m),
                  lambda d, p=p, u=u, dn=dn, m=m: talib.BBANDS(d["close"], p, u, dn, m)))
    for p, nb in ([(5, 1.0), (2, 1.0), (20, 2.5), (1, 1.0)] if full else [(5, 1.0)]):
        c.append(("STDDEV", (p, nb), lambda d, p=p, nb=nb: talib.STDDEV(d["close"], p, nb)))
    hlc = lambda d: (d["high"], d["low"], d["close"])  # noqa: E731
    for name in ("ATR", "NATR", "ADX", "PLUS_DI", "MINUS_DI", "CCI", "WILLR"):
        for p in ([14, 1, 2, 5] if full else [14]):
            c.append((name, (p,), lambda d, n=name, p=p: getattr(talib, n)(*hlc(d), timeperiod=p)))
    c.append(("TRANGE", (), lambda d: talib.TRANGE(*hlc(d))))
    st = [(5, 3, 0, 3, 0)]
    if full:
        st += [(1, 1, 0, 1, 0), (14, 3, 0, 3, 0), (5, 3, 1, 3, 2), (5, 2, 3, 4, 6), (3, 1, 4, 2, 0)]
    for fk, sk, skm, sd, sdm in st:
        c.append(("STOCH", (fk, sk, skm, sd, sdm),
                  lambda d, a=(fk, sk, skm, sd, sdm): talib.STOCH(*hlc(d), *a)))
    sr = [(14, 5, 3, 0)]
    if full:
        sr += [(2, 1, 1, 0), (14, 14, 3, 1), (5, 3, 2, 0)]
    for p, fk, fd, m in sr:
        c.append(("STOCHRSI", (p, fk, fd, m),
                  lambda d, a=(p, fk, fd, m): talib.STOCHRSI(d["close"], *a)))
    for p in ([14, 2, 1] if full else [14]):
        c.append(("MFI", (p,), lambda d, p=p: talib.MFI(*hlc(d), d["volume"], timeperiod=p)))
    for name in ("ROC", "MOM"):
        for p in ([10, 1, 2] if full else [10]):
            c.append((name, (p,), lambda d, n=name, p=p: getattr(talib, n)(d["close"], timeperiod=p)))
    c.append(("OBV", (), lambda d: talib.OBV(d["close"], d["volume"])))
    for p in ([14, 2, 25, 1] if full else [14]):
        c.append(("AROON", (p,), lambda d, p=p: talib.AROON(d["high"], d["low"], timeperiod=p)))
    c.append(("VWAP_SESSION", (), vwap_session))
    for p in ([20, 1, 3] if full else [20]):
        c.append(("VWAP_ROLLING", (p,), lambda d, p=p: vwap_rolling(d, p)))
    return c


def _bars(d):
    return zip(d["high"].tolist(), d["low"].tolist(), d["close"].tolist(), d["volume"].tolist())


def vwap_session(d) -> list[float]:
    """Independent reference for VwapSession (definition in rust/core/src/ta/stream.rs)."""
    out, sess, pv, v = [], None, 0.0, 0.0
    for (h, lo, c, vol), s in zip(_bars(d), d["session"].tolist()):
        if any(math.isnan(x) for x in (h, lo, c, vol)):
            out.append(NAN)
            continue
        if s != sess:
            sess, pv, v = s, 0.0, 0.0
        pv += (h + lo + c) / 3.0 * vol
        v += vol
        out.append(pv / v if v != 0.0 else NAN)
    return out


def vwap_rolling(d, period: int) -> list[float]:
    """Independent reference for VwapRolling: exact window sums, not running ones."""
    out, window = [], []
    for h, lo, c, vol in _bars(d):
        if any(math.isnan(x) for x in (h, lo, c, vol)):
            out.append(NAN)
            continue
        window.append(((h + lo + c) / 3.0 * vol, vol))
        window = window[-period:]
        if len(window) < period or all(w[1] == 0.0 for w in window):
            out.append(NAN)
        else:
            out.append(math.fsum(w[0] for w in window) / math.fsum(w[1] for w in window))
    return out


def main() -> None:
    lines: list[str] = []
    for name, d, full in datasets():
        n = len(d["close"])
        lines.append(f"D {name} {n}")
        for k in ("open", "high", "low", "close", "volume"):
            lines.append(f"I {k} {hexs(d[k])}")
        lines.append("I session " + " ".join(str(int(s)) for s in d["session"]))
        for fname, params, fn in calls(full):
            ptxt = ",".join(str(p) for p in params) or "-"
            try:
                res = fn(d)
            except Exception:  # TA-Lib rejected the parameters
                lines.append(f"E {fname} {ptxt}")
                continue
            if not isinstance(res, tuple):
                res = (res,)
            for i, r in enumerate(res):
                lines.append(f"C {fname} {ptxt} {i} {hexs(r)}")
    with gzip.open(os.path.join(HERE, "ta_fixtures.txt.gz"), "wt", compresslevel=9) as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
