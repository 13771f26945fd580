"""The strategy API: one class a user subclasses, run unchanged by a backtest, a paper
session or a live session.

A strategy sees the world only through its callbacks and through ``self`` (``submit``,
``cancel``, ``replace``, ``position``, ``cash``, ``equity``, ``open_orders``, ``book``,
``indicator``). Every one of those goes to a *broker* the runner attaches before
``on_start``: the backtest's simulated venue (``baconalgo.backtest``), or a paper or live
router. The strategy never knows which, so the same class runs everywhere::

    class EmaCross(Strategy):
        def on_start(self):
            self.fast = self.indicator(ta.stream.EMA(10))
            self.slow = self.indicator(ta.stream.EMA(50))

        def on_bar(self, bar):
            ...
            if crossed_up and self.position == 0:
                self.buy(self.max_buy_qty())

Orders are queued by ``submit`` and served after the callback returns (as a real venue
answers later): the order's fate arrives in ``on_order_update`` (every state change:
new, partially_filled, filled, cancelled, rejected, replaced) and fills also in
``on_fill``. A refusal by the risk engine or the venue is a ``rejected`` update whose
``reason`` names why.

Prices and quantities are floats in the instrument's units (quote currency, base asset or
contracts); they must lie on the instrument's tick and lot grid.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from baconalgo._core import Bar, Indicator, OrderUpdate, SignalFired
from baconalgo.signal import Signal, SignalDefinition


class OpenOrder(NamedTuple):
    """A working order."""

    client_order_id: int
    side: str
    price: float
    leaves_qty: float
    filled_qty: float
    tif: str


class Quote(NamedTuple):
    """Best bid and ask the strategy can trade against now."""

    bid: float
    ask: float


class Broker(Protocol):
    """What a runner gives a strategy: where its orders go and where its state comes from.
    The backtest's ``baconalgo._core.BarBroker`` is one; a paper or live runner provides
    another with the same methods."""

    def submit(
        self,
        side: Any,
        qty: float,
        price: float | None = ...,
        tif: str = ...,
        post_only: bool = ...,
    ) -> int: ...
    def cancel(self, client_order_id: int) -> None: ...
    def replace(
        self, client_order_id: int, price: float | None = ..., qty: float | None = ...
    ) -> None: ...
    @property
    def cash(self) -> float: ...
    @property
    def position(self) -> float: ...
    @property
    def equity(self) -> float: ...
    @property
    def ts_ns(self) -> int: ...
    def quote(self) -> tuple[float, float]: ...
    def open_orders(self) -> list[tuple[int, str, float, float, float, str]]: ...
    def max_buy_qty(self) -> float: ...
    def kill_switch(self) -> int: ...


class SignalBroker(Broker, Protocol):
    """A broker that evaluates signals for its strategy (both backtest brokers and the
    paper broker are): ``subscribe_signal`` hands it the signal's definition."""

    def add_signal(self, definition: SignalDefinition) -> None: ...


class StrategyNotAttached(RuntimeError):
    """A strategy method that needs a broker was called before a runner attached one."""


class StrategyAlreadyAttached(RuntimeError):
    """A runner was given a strategy object another runner has already driven."""


class _Detached:
    """The broker of a strategy no runner has attached yet: every use says so."""

    def __getattr__(self, name: str) -> Any:
        raise StrategyNotAttached(
            f"strategy.{name}: no runner has attached this strategy yet "
            "(call it from on_start or later callbacks)"
        )


class Strategy:
    """Subclass this and override the callbacks you need; each default does nothing.

    Callbacks: ``on_start()``, ``on_bar(bar)``, ``on_trade(trade)``, ``on_quote(quote)``,
    ``on_book(book)``, ``on_signal(signal)``, ``on_fill(update)``,
    ``on_order_update(update)``, ``on_stop()``. Which market-data callbacks are called
    depends on the runner's data: a bar backtest calls ``on_bar``; a paper or live
    session also trades, quotes and books. ``on_signal`` is called by every runner for
    the signals subscribed with :meth:`subscribe_signal`.

    In a backtest ``bar`` is one object updated in place every bar: keep ``bar.copy()``
    if you need it after the call.
    """

    _broker: Any = _Detached()
    _indicators: list[Indicator] | None = None
    _signals: list[Signal] | None = None

    # ------------------------------------------------------------------ runner side

    def attach(self, broker: Broker) -> None:
        """Called by a runner before ``on_start``: where orders go from now on. A
        strategy object runs once: its indicators and attributes carry the state of its
        run, so a second runner would start from the end of the first."""
        if self.attached:
            raise StrategyAlreadyAttached(
                f"this {type(self).__name__} has run already: make a new instance per run"
            )
        self._broker = broker

    @property
    def attached(self) -> bool:
        """Whether a runner has attached this strategy."""
        return not isinstance(self._broker, _Detached)

    @property
    def indicators(self) -> list[Indicator]:
        """The indicators registered with :meth:`indicator`, in order (runners feed
        them each bar before ``on_bar``)."""
        if self._indicators is None:
            self._indicators = []
        return self._indicators

    @property
    def signals(self) -> list[Signal]:
        """The signals subscribed with :meth:`subscribe_signal`, in order."""
        if self._signals is None:
            self._signals = []
        return self._signals

    def overrides(self, name: str) -> bool:
        """Whether this strategy overrides callback ``name`` (runners skip the others)."""
        return getattr(type(self), name, None) is not getattr(Strategy, name, None)

    # ------------------------------------------------------------------ callbacks

    def on_start(self) -> None:
        """Before the first event; register indicators here."""

    def on_bar(self, bar: Bar) -> None:
        """A closed OHLCV bar."""

    def on_trade(self, trade: Any) -> None:
        """A market trade (paper / live / tick data)."""

    def on_quote(self, quote: Any) -> None:
        """A best bid/ask change (paper / live / quote data)."""

    def on_book(self, book: Any) -> None:
        """The order book changed (paper / live / L2 data)."""

    def on_signal(self, signal: SignalFired) -> None:
        """A subscribed signal fired (:meth:`subscribe_signal`): ``signal.signal_id``,
        ``ts_ns`` (the end of the bar that made it true), ``instrument``, ``side``,
        ``score``, ``price`` and ``rules`` (each rule's ``(holds, left, right)``). Called
        right after the market callbacks of the trade or bar that fired it; orders sent
        here are served at once, like those of any callback."""

    def on_fill(self, fill: OrderUpdate) -> None:
        """One of our orders traded (``fill.qty`` at ``fill.price``, ``fill.fee``)."""

    def on_order_update(self, update: OrderUpdate) -> None:
        """Any state change of one of our orders, fills included."""

    def on_stop(self) -> None:
        """After the last event."""

    # ------------------------------------------------------------------ actions

    def submit(
        self,
        side: Any,
        qty: float,
        price: float | None = None,
        *,
        tif: str = "gtc",
        post_only: bool = False,
    ) -> int:
        """Sends an order; returns its client order id. ``side``: "buy"/"sell" (or
        ``Side.BUY``/``Side.SELL``); no ``price`` for a market order; ``tif``: "gtc",
        "ioc" or "fok"; ``post_only`` limit orders rest or are rejected."""
        return int(self._broker.submit(side, qty, price, tif, post_only))

    def buy(self, qty: float, price: float | None = None, **kw: Any) -> int:
        return self.submit("buy", qty, price, **kw)

    def sell(self, qty: float, price: float | None = None, **kw: Any) -> int:
        return self.submit("sell", qty, price, **kw)

    def cancel(self, client_order_id: int) -> None:
        self._broker.cancel(client_order_id)

    def cancel_all(self) -> None:
        for o in self._broker.open_orders():
            self._broker.cancel(o[0])

    def kill_switch(self) -> int:
        """Halts trading in the risk engine and cancels every working order; returns how
        many cancels went out. Orders sent afterwards are rejected (``halted``) until the
        operator resets the risk engine. Raises ``RiskError`` when the runner has no risk
        engine."""
        return int(self._broker.kill_switch())

    def replace(
        self, client_order_id: int, price: float | None = None, qty: float | None = None
    ) -> None:
        """New price and/or remaining quantity of a working order (None keeps it)."""
        self._broker.replace(client_order_id, price, qty)

    def indicator(self, indicator: Any, *inputs: str) -> Indicator:
        """Registers a streaming indicator (a ``baconalgo.ta.stream`` object) fed from
        each bar's fields ``inputs`` (default ``"close"``) before ``on_bar``; returns a
        handle whose ``value`` / ``previous`` are its latest two outputs."""
        handle = Indicator(indicator, list(inputs) or ["close"])
        self.indicators.append(handle)
        return handle

    def subscribe_signal(self, signal: Signal) -> int:
        """Has the runner evaluate ``signal`` (a :class:`baconalgo.signal.Signal`) in Rust
        and call ``on_signal`` each time it fires; returns its ``signal_id`` (unique per
        strategy). Call it in ``on_start``. Paper sessions and ``run_market`` feed it the
        instrument's trades; bar backtests feed it the data's bars, so each rule timeframe
        must be a whole number of them (``RSI(14)@1h`` on 1-minute bars, not ``@30s``).
        The signal's own ``price_scale`` is replaced by the instrument's tick size."""
        if not isinstance(signal, Signal):
            raise TypeError(
                f"subscribe_signal takes a baconalgo.signal.Signal, got {type(signal).__name__}"
            )
        if not self.attached:
            raise StrategyNotAttached(
                "strategy.subscribe_signal: no runner has attached this strategy yet "
                "(call it from on_start)"
            )
        if not hasattr(self._broker, "add_signal"):
            raise TypeError(
                f"this runner's broker ({type(self._broker).__name__}) does not evaluate signals"
            )
        broker: SignalBroker = self._broker
        broker.add_signal(signal.definition())
        self.signals.append(signal)
        return signal.signal_id

    # ------------------------------------------------------------------ state

    @property
    def position(self) -> float:
        """Signed position in the instrument's units."""
        return float(self._broker.position)

    @property
    def cash(self) -> float:
        return float(self._broker.cash)

    @property
    def equity(self) -> float:
        """Cash plus the position at the latest price."""
        return float(self._broker.equity)

    @property
    def now_ns(self) -> int:
        """The time of the event being handled (simulated time in a backtest)."""
        return int(self._broker.ts_ns)

    @property
    def book(self) -> Quote:
        """The best bid and ask available now."""
        bid, ask = self._broker.quote()
        return Quote(bid, ask)

    @property
    def open_orders(self) -> list[OpenOrder]:
        return [OpenOrder(*o) for o in self._broker.open_orders()]

    def max_buy_qty(self) -> float:
        """The quantity all the cash buys at the ask, fees included, floored to the lot."""
        return float(self._broker.max_buy_qty())


__all__ = [
    "Bar",
    "Broker",
    "Indicator",
    "OpenOrder",
    "OrderUpdate",
    "Quote",
    "SignalBroker",
    "SignalFired",
    "Strategy",
    "StrategyAlreadyAttached",
    "StrategyNotAttached",
]
