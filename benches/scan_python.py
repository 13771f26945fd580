"""Scanner: RSI(14), EMA(50), ATR(14) and BBANDS(20) over 10,000 instruments x 500 bars,
against TA-Lib looped from Python, in one run.

    .venv/bin/python benches/scan_python.py
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import numpy as np
import polars as pl
import talib

from baconalgo.scan import scan

N_BARS, N_INSTRUMENTS, REPEATS = 500, 10_000, 5


def main() -> None:
    rng = np.random.default_rng(0)
    close = np.asfortranarray(100 + np.cumsum(rng.normal(0, 1, (N_BARS, N_INSTRUMENTS)), axis=0))
    spread = np.abs(rng.normal(0, 0.5, (N_BARS, N_INSTRUMENTS)))
    high, low = np.asfortranarray(close + spread), np.asfortranarray(close - spread)
    indicators = {
        "rsi": ("RSI", 14),
        "ema": ("EMA", 50),
        "atr": ("ATR", 14),
        "upper": ("BBANDS_UPPER", 20, 2.0),
        "lower": ("BBANDS_LOWER", 20, 2.0),
    }

    def ours() -> None:
        scan(close, high, low, indicators=indicators, rank_by="rsi", top=N_INSTRUMENTS)

    c_close, c_high, c_low = (np.ascontiguousarray(x) for x in (close, high, low))

    def ours_c() -> None:
        scan(c_close, c_high, c_low, indicators=indicators, rank_by="rsi", top=N_INSTRUMENTS)

    def read_once() -> None:
        # The floor for any scan: reading the three input matrices from memory once.
        close.sum()
        high.sum()
        low.sum()

    halves = [
        x[:, half] for x in (close, high, low) for half in (slice(0, 5000), slice(5000, None))
    ]
    pool = ThreadPoolExecutor(2)

    def read_once_two_threads() -> None:
        # The same read split over both cores (numpy releases the GIL while it sums).
        list(pool.map(lambda h: [h[:, :2500].sum(), h[:, 2500:].sum()], halves))

    frame = pl.DataFrame(
        {
            "instrument": np.repeat(np.arange(N_INSTRUMENTS, dtype=np.int32), N_BARS),
            "ts": np.tile(np.arange(N_BARS, dtype=np.int64), N_INSTRUMENTS),
            "high": high.T.ravel(),
            "low": low.T.ravel(),
            "close": close.T.ravel(),
        }
    )

    def ours_frame() -> None:
        scan(frame, indicators=indicators, rank_by="rsi", top=N_INSTRUMENTS)

    cols = [(close[:, j].copy(), high[:, j].copy(), low[:, j].copy()) for j in range(N_INSTRUMENTS)]

    def talib_loop() -> None:
        for c, h, lo in cols:
            talib.RSI(c, 14)
            talib.EMA(c, 50)
            talib.ATR(h, lo, c, 14)
            talib.BBANDS(c, 20, 2.0, 2.0)

    def best(f) -> float:  # type: ignore[no-untyped-def]
        times = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            f()
            times.append(time.perf_counter() - t0)
        return min(times)

    t_ours, t_talib = best(ours), best(talib_loop)
    t_frame, t_read = best(ours_frame), best(read_once)
    t_c, t_read2 = best(ours_c), best(read_once_two_threads)
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(f"{date.today()}, {N_INSTRUMENTS} x {N_BARS}, best of {REPEATS}, load {' '.join(load)}\n")
    print("| scan | ms | vs TA-Lib loop |")
    print("|---|---|---|")
    rows = [
        ("baconalgo.scan, (bars, instruments) matrices, Fortran order", t_ours),
        ("baconalgo.scan, the same matrices in C order (read as they are)", t_c),
        ("baconalgo.scan, long polars DataFrame (order checked and cut in the call)", t_frame),
        ("TA-Lib looped from Python (same four)", t_talib),
        ("numpy: read close, high and low once (memory floor), one thread", t_read),
        ("numpy: the same read on two threads", t_read2),
    ]
    for name, t in rows:
        print(f"| {name} | {t * 1e3:.1f} | {t_talib / t:.1f}x |")


if __name__ == "__main__":
    main()
