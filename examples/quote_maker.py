"""A quote-following maker skewed by order flow: the main job's paper strategy.

It keeps a post-only bid at the venue's best bid while recent trades lean to buying
(aggressor-signed flow, decayed per trade) and its position is under the cap, and offers
what it holds at the best ask. Both quotes follow the touch with replaces; fills come
when the market trades through the queue at its price (the venue's queue model) or
moves through it.

Runs unchanged in paper (``baconalgo paper examples/quote_maker.py:QuoteMaker``) and as
the default strategy of ``baconalgo run``.
"""

from __future__ import annotations

import logging
import math

from baconalgo import Strategy
from baconalgo.strategy import OrderUpdate

log = logging.getLogger(__name__)


class QuoteMaker(Strategy):
    qty = 0.002  # per bid, BTC
    max_position = 0.01  # BTC
    decay = 0.9  # flow memory per trade

    def on_start(self) -> None:
        self.flow = 0.0
        self.bid: tuple[int, float] | None = None  # (client order id, price)
        self.ask: tuple[int, float] | None = None
        self.refused: dict[str, int] = {}

    def on_trade(self, trade) -> None:  # type: ignore[no-untyped-def]
        signed = trade.qty if trade.side == "buy" else -trade.qty
        self.flow = self.decay * self.flow + signed

    def on_book(self, book) -> None:  # type: ignore[no-untyped-def]
        if math.isnan(book.bid) or math.isnan(book.ask):
            return
        pos = self.position
        self.bid = self._follow(
            self.bid, "buy", book.bid, self.qty, self.flow > 0 and pos < self.max_position
        )
        self.ask = self._follow(self.ask, "sell", book.ask, pos, pos > 0)

    def _follow(
        self, order: tuple[int, float] | None, side: str, price: float, qty: float, want: bool
    ) -> tuple[int, float] | None:
        if not want or qty <= 0:
            if order is not None:
                self.cancel(order[0])
            return None
        if order is None:
            return self.submit(side, round(qty, 8), price, post_only=True), price
        if order[1] != price:
            self.replace(order[0], price=price)
            return order[0], price
        return order

    def on_order_update(self, update: OrderUpdate) -> None:
        if update.status == "rejected" and update.reason is not None:
            self.refused[update.reason] = self.refused.get(update.reason, 0) + 1
        if update.is_final:
            for name in ("bid", "ask"):
                order = getattr(self, name)
                if order is not None and order[0] == update.client_order_id:
                    setattr(self, name, None)

    def on_stop(self) -> None:
        if self.refused:
            log.info("refused orders", extra={"reasons": self.refused})
