"""Scanner: RSI(14), EMA(50), ATR(14) and BBANDS(20) over 10,000 instruments x 500 bars,
against TA-Lib looped from Python, in one run.

    .venv/bin/python benches/scan_python.py
"""

from __future__ import annotations

import time
from datetime import date

import numpy as np
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
    print(f"{date.today()}, {N_INSTRUMENTS} x {N_BARS}, best of {REPEATS}\n")
    print("| scan | ms | vs TA-Lib loop |")
    print("|---|---|---|")
    ratio = t_talib / t_ours
    print(f"| baconalgo.scan (RSI, EMA, ATR, BBANDS; rank) | {t_ours * 1e3:.1f} | {ratio:.1f}x |")
    print(f"| TA-Lib looped from Python (same four) | {t_talib * 1e3:.1f} | 1.0x |")


if __name__ == "__main__":
    main()
