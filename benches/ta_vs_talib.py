"""Indicator speed: baconalgo.ta against TA-Lib (the `talib` package) in the same process.

1. Every TA-Lib function on one series of 1 M float64 bars (default parameters): best of
   N runs (time.perf_counter), ns per element, ratio ours / TA-Lib (< 1 is faster); ours
   also with `out=` (no output allocation), and the fixed cost of one call on 16 bars.
2. The scan case: RSI, EMA, ATR and BBANDS over 10,000 instruments x 500 bars: one 2-D
   call (Fortran-ordered, columns in parallel on every core) against TA-Lib looped over the
   columns from Python; our own 1-D function looped the same way is shown too, so the
   parallel speed-up and the per-call cost can be told apart.

Prints markdown tables. Run after `make build` (a release build):
    .venv/bin/python benches/ta_vs_talib.py [--n 1000000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import talib

from baconalgo import ta

Arr = npt.NDArray[np.float64]

INPUTS: dict[str, tuple[str, ...]] = {
    **{f: ("close",) for f in ("SMA", "EMA", "WMA", "DEMA", "TEMA", "KAMA", "BBANDS")},
    **{f: ("close",) for f in ("STDDEV", "RSI", "MACD", "STOCHRSI", "ROC", "MOM")},
    **{f: ("high", "low", "close") for f in ("STOCH", "ADX", "PLUS_DI", "MINUS_DI", "CCI")},
    **{f: ("high", "low", "close") for f in ("WILLR", "TRANGE", "ATR", "NATR")},
    "MFI": ("high", "low", "close", "volume"),
    "AROON": ("high", "low"),
    "OBV": ("close", "volume"),
}


def bars(n: int, seed: int, shape: tuple[int, ...] | None = None) -> dict[str, Arr]:
    rng = np.random.default_rng(seed)
    size = shape or (n,)
    close = 100.0 + np.cumsum(rng.normal(0.0, 1.0, size), axis=0)
    high = close + np.abs(rng.normal(0.0, 0.7, size))
    low = close - np.abs(rng.normal(0.0, 0.7, size))
    volume = np.round(rng.uniform(0.0, 1000.0, size), 1)
    order = "F" if shape else "C"
    return {
        k: np.require(v, dtype=np.float64, requirements=[order])
        for k, v in {"close": close, "high": high, "low": low, "volume": volume}.items()
    }


def best_of(fns: list[Callable[[], Any]], repeat: int) -> list[float]:
    """Best time of each function over `repeat` rounds; the functions take turns within a
    round, so a burst of load from other processes hits all of them alike, in an order
    shuffled every round: which call follows which changes what the allocator hands out
    (reused or freshly faulted pages), and a fixed order showed it as a 20 % difference
    between two copies of the same function."""
    for fn in fns:
        fn()  # warm-up: page-in, thread pool start
    best = [float("inf")] * len(fns)
    rng = random.Random(0)
    order = list(range(len(fns)))
    for _ in range(repeat):
        rng.shuffle(order)
        for k in order:
            fn = fns[k]
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


MULTI_OUTPUT = {"BBANDS": 3, "MACD": 3, "STOCH": 2, "STOCHRSI": 2, "AROON": 2}


def single_series(n: int, repeat: int, only: set[str]) -> list[str]:
    """Each function into fresh output arrays (what `talib` does) and into the caller's
    arrays (`out=`, no allocation); the call's fixed cost is measured on 16 bars."""
    data = bars(n, 42)
    tiny = bars(16, 43)
    rows = [
        "| indicator | ours ns/elem | ours out= ns/elem | TA-Lib ns/elem | ours / TA-Lib "
        "| out= / TA-Lib | ours per call, 16 bars (us) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for f, cols in INPUTS.items():
        if only and f not in only:
            continue
        args = [data[c] for c in cols]
        tiny_args = [tiny[c] for c in cols]
        k = MULTI_OUTPUT.get(f, 1)
        bufs: Any = tuple(np.empty(n) for _ in range(k)) if k > 1 else np.empty(n)
        ours_fn, their_fn = getattr(ta, f), getattr(talib, f)
        t_ours, t_out, t_theirs = best_of(
            [
                lambda fn=ours_fn, a=args: fn(*a),
                lambda fn=ours_fn, a=args, o=bufs: fn(*a, out=o),
                lambda fn=their_fn, a=args: fn(*a),
            ],
            repeat,
        )
        # The fixed cost of a call (argument checks, output allocation, GIL release):
        # best of `repeat` runs of 1000 calls on 16 bars.
        (t_tiny,) = best_of([lambda fn=ours_fn, a=tiny_args: [fn(*a) for _ in range(1000)]], repeat)
        ns_ours, ns_out, ns_theirs = (t / n * 1e9 for t in (t_ours, t_out, t_theirs))
        rows.append(
            f"| {f} | {ns_ours:.2f} | {ns_out:.2f} | {ns_theirs:.2f} | {t_ours / t_theirs:.2f} "
            f"| {t_out / t_theirs:.2f} | {t_tiny * 1e3:.1f} |"
        )
    if only:
        return rows
    hlcv = [data[c] for c in ("high", "low", "close", "volume")]
    keys = np.arange(n, dtype=np.int64) // 1440
    (t,) = best_of([lambda: ta.VWAP(*hlcv, session=keys)], repeat)
    rows.append(f"| VWAP (session) | {t / n * 1e9:.2f} | - | - | - | - | - |")
    (t,) = best_of([lambda: ta.VWAP_ROLLING(*hlcv, 20)], repeat)
    rows.append(f"| VWAP_ROLLING(20) | {t / n * 1e9:.2f} | - | - | - | - | - |")
    return rows


def scan(n_instruments: int, n_bars: int, repeat: int) -> list[str]:
    m = bars(0, 7, shape=(n_bars, n_instruments))
    cases: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
        "RSI": (("close",), {}),
        "EMA": (("close",), {"timeperiod": 20}),
        "ATR": (("high", "low", "close"), {}),
        "BBANDS": (("close",), {}),
    }
    header = (
        "| indicator | ours 2-D (ms) | ours 1-D looped (ms) | TA-Lib looped (ms) | 2-D / TA-Lib |"
    )
    rows = [
        header,
        "|---|---:|---:|---:|---:|",
    ]
    for f, (cols, params) in cases.items():
        mats = [m[c] for c in cols]
        columns = [[np.ascontiguousarray(x[:, j]) for x in mats] for j in range(n_instruments)]
        ours_fn, their_fn = getattr(ta, f), getattr(talib, f)

        def ours_2d(fn: Any = ours_fn, a: list[Arr] = mats, p: dict[str, Any] = params) -> Any:
            return fn(*a, **p)

        def looped(fn: Any, c: list[list[Arr]] = columns, p: dict[str, Any] = params) -> None:
            for col in c:
                fn(*col, **p)

        t2, t1, tt = best_of(
            [ours_2d, lambda fn=ours_fn: looped(fn), lambda fn=their_fn: looped(fn)], repeat
        )
        rows.append(f"| {f} | {t2 * 1e3:.1f} | {t1 * 1e3:.1f} | {tt * 1e3:.1f} | {t2 / tt:.2f} |")
    return rows


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=1_000_000, help="bars in the single series")
    ap.add_argument("--repeat", type=int, default=7, help="runs per timing (best is kept)")
    ap.add_argument("--instruments", type=int, default=10_000)
    ap.add_argument("--bars", type=int, default=500)
    ap.add_argument("--only", nargs="*", default=[], help="single-series functions only")
    args = ap.parse_args()
    print(
        f"{cpu_name()}, {os.cpu_count()} logical cores; Python {platform.python_version()}, "
        f"numpy {np.__version__}, talib {talib.__version__} "
        f"(TA-Lib C {talib.__ta_version__.decode().split()[0]}); our kernels may use "
        f"{os.environ.get('RAYON_NUM_THREADS', os.cpu_count())} threads (RAYON_NUM_THREADS), "
        "TA-Lib one\n"
    )
    print(f"Single series, {args.n:,} float64 bars, default parameters, best of {args.repeat}:\n")
    print("\n".join(single_series(args.n, args.repeat, set(args.only))))
    if args.only:
        return
    print(
        f"\nScan: {args.instruments:,} instruments x {args.bars} bars "
        f"(default parameters, EMA 20), best of {args.repeat}:\n"
    )
    print("\n".join(scan(args.instruments, args.bars, args.repeat)))


if __name__ == "__main__":
    main()
