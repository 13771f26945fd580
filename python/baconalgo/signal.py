"""Signals: rules over indicators on several timeframes, fused into one signal, evaluated
in Rust on trade events.

    engine = Signal(
        ["RSI(14)@5m < 30", "CLOSE@1h > EMA(200)@1h"],
        fusion="all", side="buy", price_scale=0.01,
    )
    runs = engine.on_events(trade_events)      # EVENT_DTYPE signal runs, ready to publish
    for fired in records(runs): ...

A series is ``KIND(period)@timeframe`` (``CLOSE@1h`` needs no period); timeframes are
``<n>s``, ``<n>m``, ``<n>h`` or ``<n>d``. Kinds: CLOSE, SMA, EMA, WMA, RSI, ROC, MOM, ATR,
NATR, ADX, CCI, WILLR (TA-Lib's definitions, on the timeframe's bars). A rule is
``series op series`` or ``series op number`` with op ``<``, ``<=``, ``>``, ``>=``; append
``*w`` for a weight (``"RSI(14)@5m < 30 *2"``). Fusion: ``all``, ``any``, ``votes``
(``min_votes``) or ``weighted`` (the confluence score, true rules' weight over all weight,
at least ``threshold``). The signal fires when the fused condition becomes true.

A strategy subscribes to signals in ``on_start`` with ``self.subscribe_signal(Signal(...))``;
the runner then evaluates them in Rust (on trades in paper sessions and ``run_market``, on
bars in bar backtests) and calls ``on_signal`` with a ``SignalFired`` per firing.

Signals can also be defined in TOML::

    [signal]
    id = 1
    side = "buy"
    fusion = "all"
    price_scale = 0.01
    rules = ["RSI(14)@5m < 30", "CLOSE@1h > EMA(200)@1h"]
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from baconalgo._core import SIGNAL_SUMMARY_AUX, SignalEngine
from baconalgo.errors import ConfigError

_UNITS_NS = {
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
}
_SERIES = re.compile(r"^([A-Za-z_]+)(?:\((\d+)\))?@(\d+)([smhd])$")
_RULE = re.compile(r"^\s*(\S+)\s*(<=|>=|<|>)\s*(\S+)\s*(?:\*\s*([0-9.]+))?\s*$")
_SIDES = {"none": 0, "buy": 1, "sell": 2}
_RULE_AT_FAULT = re.compile(r"^rule (\d+):")

SeriesSpec = tuple[str, int, int]
RuleSpec = tuple[SeriesSpec, str, SeriesSpec | None, float, float]
#: What a runner's broker takes to evaluate a signal (``Signal.definition()``).
SignalDefinition = tuple[list[RuleSpec], str, int, float, int, int, list[str]]


def parse_series(text: str) -> SeriesSpec:
    m = _SERIES.match(text.strip())
    if m is None:
        raise ValueError(f"series {text!r}: expected KIND(period)@timeframe, e.g. RSI(14)@5m")
    kind, period, n, unit = m.groups()
    return kind.upper(), int(period or 0), int(n) * _UNITS_NS[unit]


def parse_rule(text: str) -> RuleSpec:
    m = _RULE.match(text)
    if m is None:
        raise ValueError(f"rule {text!r}: expected 'series op series|number [*weight]'")
    left, op, right, weight = m.groups()
    try:
        value = float(right)
        right_series = None
    except ValueError:
        value, right_series = 0.0, parse_series(right)
    return parse_series(left), op, right_series, value, float(weight or 1.0)


class Signal:
    """One fused signal over any number of instruments (state is kept per instrument)."""

    def __init__(
        self,
        rules: Sequence[str],
        *,
        fusion: str = "all",
        min_votes: int = 1,
        threshold: float = 1.0,
        side: str = "buy",
        price_scale: float = 1.0,
        signal_id: int = 0,
    ) -> None:
        if side not in _SIDES:
            raise ValueError(f"side must be one of {sorted(_SIDES)}, got {side!r}")
        if isinstance(rules, str):
            raise TypeError("rules must be a list of rule strings, not one string")
        self.rules = list(rules)
        self.fusion = fusion
        self.min_votes = min_votes
        self.threshold = threshold
        self.side = side
        self.signal_id = signal_id
        self._parsed = [parse_rule(r) for r in self.rules]
        try:
            self._engine = SignalEngine(
                self._parsed,
                fusion,
                min_votes,
                threshold,
                _SIDES[side],
                price_scale,
                signal_id,
            )
        except ValueError as e:
            at = _RULE_AT_FAULT.match(str(e))
            if at is None or int(at[1]) >= len(self.rules):
                raise
            raise ValueError(f"{e} (rule {self.rules[int(at[1])]!r})") from None

    def definition(self) -> SignalDefinition:
        """What a runner's broker needs to evaluate this signal itself (its
        ``add_signal`` argument): parsed rules, fusion, min_votes, threshold, side code,
        signal id and the rule texts (for error messages)."""
        return (
            self._parsed,
            self.fusion,
            self.min_votes,
            self.threshold,
            _SIDES[self.side],
            self.signal_id,
            self.rules,
        )

    def __repr__(self) -> str:
        return (
            f"Signal({self.rules!r}, fusion={self.fusion!r}, side={self.side!r}, "
            f"signal_id={self.signal_id})"
        )

    def on_events(self, events: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
        """Feeds a batch of events (trades are used); returns the signal runs fired."""
        return self._engine.on_events(np.ascontiguousarray(events))


def from_toml(path: str | Path) -> Signal:
    """A Signal from the ``[signal]`` table of a TOML file; errors name the key."""
    try:
        table = tomllib.loads(Path(path).read_text(encoding="utf-8"))["signal"]
    except FileNotFoundError:
        raise ConfigError(f"signal file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, KeyError) as e:
        raise ConfigError(f"{path}: expected a [signal] table ({e})") from None
    allowed = {"id", "side", "fusion", "min_votes", "threshold", "price_scale", "rules"}
    unknown = set(table) - allowed
    if unknown:
        raise ConfigError(f"signal.{sorted(unknown)[0]}: unknown key")
    rules = table.get("rules")
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise ConfigError("signal.rules: expected a list of rule strings")
    try:
        return Signal(
            rules,
            fusion=table.get("fusion", "all"),
            min_votes=table.get("min_votes", 1),
            threshold=table.get("threshold", 1.0),
            side=table.get("side", "buy"),
            price_scale=table.get("price_scale", 1.0),
            signal_id=table.get("id", 0),
        )
    except (ValueError, TypeError) as e:
        raise ConfigError(f"signal: {e}") from None


def records(runs: npt.NDArray[np.void]) -> list[dict[str, Any]]:
    """Signal runs back into one record per firing: time, instrument, side, score, and
    each rule's (holds, left, right) values."""
    out: list[dict[str, Any]] = []
    rules: list[tuple[bool, float, float]] = []
    for e in runs:
        if int(e["aux"]) != SIGNAL_SUMMARY_AUX:
            left = float(np.uint64(e["id"]).view(np.float64))
            right = float(np.int64(e["qty_lots"]).view(np.float64))
            rules.append((bool(e["side"]), left, right))
            continue
        out.append(
            {
                "ts_ns": int(e["ts_event_ns"]),
                "instrument": int(e["instrument"]),
                "signal_id": int(e["seq"]),
                "side": int(e["side"]),
                "score": float(np.uint64(e["id"]).view(np.float64)),
                "rules": rules,
            }
        )
        rules = []
    return out


__all__ = ["Signal", "SignalDefinition", "from_toml", "parse_rule", "parse_series", "records"]
