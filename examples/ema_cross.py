"""EMA(10) / EMA(50) crossover, long only and all in: buys with all the cash when the fast
EMA crosses above the slow one, sells everything when it crosses below.

Backtest it (runs as is from the repository root):

    .venv/bin/baconalgo backtest examples/ema_cross.py:EmaCross \\
        --data data/bars/btc_perp_1m_2022-01.csv.gz --report ema_cross.html
"""

from __future__ import annotations

import math

from baconalgo import Strategy, ta
from baconalgo.strategy import Bar


class EmaCross(Strategy):
    fast_period = 10
    slow_period = 50

    def on_start(self) -> None:
        self.fast = self.indicator(ta.stream.EMA(self.fast_period))
        self.slow = self.indicator(ta.stream.EMA(self.slow_period))

    def on_bar(self, bar: Bar) -> None:
        f0, s0 = self.fast.previous, self.slow.previous
        if f0 is None or s0 is None or math.isnan(f0) or math.isnan(s0):
            return  # warming up
        f1, s1 = self.fast.value, self.slow.value
        if f1 > s1 and f0 <= s0 and self.position == 0:
            qty = self.max_buy_qty()
            if qty > 0:
                self.buy(qty)
        elif f1 < s1 and f0 >= s0 and self.position > 0:
            self.sell(self.position)
