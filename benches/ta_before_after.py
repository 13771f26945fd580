"""Indicator speed before and after a change, in one process: this checkout's
`baconalgo.ta`, another build's `_core` extension (e.g. main's) and TA-Lib, each call timed
in wall-clock time (`--clock thread` for the calling thread's CPU time, which misses
the work a kernel hands to rayon's other threads), the three in an order shuffled every
round (a fixed order biases which call gets reused or freshly faulted pages).
Prints best and median ratios to TA-Lib.

    .venv/bin/python benches/ta_before_after.py OTHER/_core.abi3.so [--repeat 15] [NAME ...]

The other build's extension file must be a copy outside its package (any directory): it
is loaded under another module name, so both live in one interpreter.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import talib

from baconalgo import ta
from ta_vs_talib import INPUTS, bars


def load_other(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("other._core", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("other", help="path of the other build's _core extension")
    ap.add_argument("names", nargs="*", default=list(INPUTS), help="functions (default all)")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--clock", choices=("wall", "thread"), default="wall")
    args = ap.parse_intermixed_args()
    other = load_other(args.other)
    clock = time.perf_counter_ns if args.clock == "wall" else time.thread_time_ns
    data = bars(args.n, 42)
    rng = random.Random(1)
    print("| indicator | other best / TA-Lib | this best / TA-Lib | other median | this median |")
    print("|---|---:|---:|---:|---:|")
    for f in args.names:
        cols = [data[c] for c in INPUTS[f]]
        fns: list[Callable[[], Any]] = [
            lambda f=f, a=cols: getattr(ta, f)(*a),
            lambda f=f, a=cols: getattr(other, f)(*a),
            lambda f=f, a=cols: getattr(talib, f)(*a),
        ]
        for fn in fns:
            fn()
        best = [float("inf")] * 3
        ratios: list[list[float]] = [[], []]
        order = [0, 1, 2]
        for _ in range(args.repeat):
            t = [0.0] * 3
            rng.shuffle(order)
            for k in order:
                t0 = clock()
                fns[k]()
                t[k] = clock() - t0
                best[k] = min(best[k], t[k])
            ratios[0].append(t[0] / t[2])
            ratios[1].append(t[1] / t[2])
        print(
            f"| {f} | {best[1] / best[2]:.2f} | {best[0] / best[2]:.2f} "
            f"| {statistics.median(ratios[1]):.2f} | {statistics.median(ratios[0]):.2f} |"
        )


if __name__ == "__main__":
    main()
