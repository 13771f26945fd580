"""RSI reversal driven by signals: buys with all the cash when RSI(14) on the hour falls
under 30, sells everything when it rises above 70. The rules are evaluated in Rust by
whichever runner drives the strategy (on the bars of a backtest, on the trades of a paper
session); Python runs only when a signal fires.

Backtest it (runs as is from the repository root):

    .venv/bin/baconalgo backtest examples/rsi_signals.py:RsiReversal \\
        --data data/bars/btc_perp_1m_2022-01.csv.gz
"""

from __future__ import annotations

from baconalgo import Strategy
from baconalgo.signal import Signal
from baconalgo.strategy import SignalFired


class RsiReversal(Strategy):
    timeframe = "1h"
    oversold = 30.0
    overbought = 70.0

    def on_start(self) -> None:
        tf = self.timeframe
        self.subscribe_signal(Signal([f"RSI(14)@{tf} < {self.oversold}"], side="buy", signal_id=1))
        self.subscribe_signal(
            Signal([f"RSI(14)@{tf} > {self.overbought}"], side="sell", signal_id=2)
        )

    def on_signal(self, signal: SignalFired) -> None:
        if signal.side == "buy" and self.position == 0:
            self.buy(self.max_buy_qty())
        elif signal.side == "sell" and self.position > 0:
            self.sell(self.position)
