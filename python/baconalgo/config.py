"""Configuration as data: a TOML file, overridden by ``BACONALGO__SECTION__KEY`` environment
variables, validated at load with errors that name the key."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from baconalgo.errors import ConfigError, RiskLimitsError

if TYPE_CHECKING:
    from baconalgo.risk import InstrumentSpec, RiskEngine, RiskLimits

ENV_PREFIX = "BACONALGO__"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RECORDING = REPO_ROOT / "data" / "binance" / "spot_btcusdt_20240808.gz"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConsumerConfig(_Section):
    name: str
    handler: str
    after: list[str] = Field(default_factory=list)
    core: int | None = None


class BusConfig(_Section):
    capacity: int = 65536
    producer: Literal["single", "multi"] = "single"
    wait: Literal["busy_spin", "yielding", "blocking"] = "yielding"
    consumers: list[ConsumerConfig] = Field(
        default_factory=lambda: [
            ConsumerConfig(name="kind_counts", handler="kind_counts"),
            ConsumerConfig(name="checksum", handler="checksum", after=["kind_counts"]),
        ]
    )

    @field_validator("capacity")
    @classmethod
    def _power_of_two(cls, v: int) -> int:
        if v < 2 or v & (v - 1):
            raise ValueError(f"must be a power of two >= 2, got {v}")
        return v


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535)
    stall_seconds: float = Field(default=5.0, gt=0)


class InstrumentConfig(_Section):
    symbol: str
    tick: str
    lot: str


class ReplayConfig(_Section):
    """Recorded market data played by a local replay server (127.0.0.1, random port) to
    the venue's adapter, as the venue would (the main job's source for now)."""

    path: Path = DEFAULT_RECORDING
    # binance_*: a data/binance recording; okx, kraken: a cryptofeed capture
    # (data/cryptofeed), replayed as the venue would to the venue's adapter.
    venue: Literal["binance_spot", "binance_usdm", "okx", "kraken"] = "binance_spot"
    symbol: str = "BTCUSDT"
    # Multiple of recorded time; 0 replays as fast as the engine takes it.
    speed: float = Field(default=1.0, ge=0)
    # Channels subscribed per symbol; none: the venue adapter's default (Binance
    # depth@100ms, bookTicker, trade; OKX books, trades; Kraken book, trade).
    channels: list[str] | None = None
    # Renew the websocket before Binance's 24 h limit (seconds).
    max_connection_age_seconds: float = Field(default=23.5 * 3600, gt=0)
    # Websocket ping interval, client and replay server (seconds).
    ping_interval: float = Field(default=20.0, gt=0)
    instruments: list[InstrumentConfig] = Field(
        default_factory=lambda: [
            # Binance lists BTCUSDT's order step as 0.00001, but book quantities in the
            # recording carry 8 decimals, so the book's lot is the asset precision.
            InstrumentConfig(symbol="BTCUSDT", tick="0.01", lot="0.00000001"),
        ]
    )


def _check_url(value: str, schemes: tuple[str, ...]) -> str:
    url = urlsplit(value)
    if url.scheme not in schemes or not url.netloc:
        raise ValueError(f"must be a {' or '.join(s + '://' for s in schemes)} URL, got {value!r}")
    return value


class _VenueSection(_Section):
    @field_validator("ws_url", check_fields=False)
    @classmethod
    def _ws(cls, v: str) -> str:
        return _check_url(v, ("wss", "ws"))

    @field_validator("rest_url", check_fields=False)
    @classmethod
    def _rest(cls, v: str) -> str:
        return _check_url(v, ("https", "http"))


class BinanceSpotVenue(_VenueSection):
    ws_url: str = "wss://stream.binance.com:9443/stream"
    rest_url: str = "https://api.binance.com/api/v3/depth"


class BinanceUsdmVenue(_VenueSection):
    ws_url: str = "wss://fstream.binance.com/public/stream"
    rest_url: str = "https://fapi.binance.com/fapi/v1/depth"


class OkxVenue(_VenueSection):
    ws_url: str = "wss://ws.okx.com:8443/ws/v5/public"


class KrakenVenue(_VenueSection):
    ws_url: str = "wss://ws.kraken.com/v2"
    # "v1" speaks the older protocol of the bundled recordings (wss://ws.kraken.com).
    protocol: Literal["v2", "v1"] = "v2"
    depth: Literal[10, 25, 100, 500, 1000] = 10


class CoinbaseVenue(_VenueSection):
    ws_url: str = "wss://advanced-trade-ws.coinbase.com"


class VenuesConfig(_Section):
    """``[venues.<name>]``: every URL an adapter connects to (live defaults)."""

    binance_spot: BinanceSpotVenue = Field(default_factory=BinanceSpotVenue)
    binance_usdm: BinanceUsdmVenue = Field(default_factory=BinanceUsdmVenue)
    okx: OkxVenue = Field(default_factory=OkxVenue)
    kraken: KrakenVenue = Field(default_factory=KrakenVenue)
    coinbase: CoinbaseVenue = Field(default_factory=CoinbaseVenue)


class RecorderConfig(_Section):
    """``[recorder]``: record every event of the bus to Parquet (``baconalgo.recorder``)."""

    enabled: bool = False
    path: Path = REPO_ROOT / "recordings"
    # Events buffered before a write (each write is one file per partition).
    flush_events: int = Field(default=1_000_000, gt=0)


class _RiskSection(BaseModel):
    # NaN and infinities are refused at load: a limit must never switch a check off.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


_U32 = 2**32 - 1
_I64 = 2**63 - 1
Action = Literal["reducing", "halted"]


class RiskThrottleConfig(_RiskSection):
    max_orders: int = Field(ge=0, le=_U32)
    window_seconds: float = Field(ge=0)


class RiskRateBreakerConfig(_RiskSection):
    max_events: int = Field(ge=0, le=_U32)
    window_seconds: float = Field(ge=0)
    action: Action = "halted"


class RiskVolatilityConfig(_RiskSection):
    max_move_frac: float
    window_seconds: float = Field(ge=0)
    action: Action = "halted"


class RiskBreakersConfig(_RiskSection):
    max_drawdown_frac: float | None = None
    drawdown_action: Action = "halted"
    max_daily_loss: float | None = None
    daily_loss_action: Action = "reducing"
    day_start_offset_seconds: float = Field(default=0.0, ge=0)
    volatility: RiskVolatilityConfig | None = None
    reject_rate: RiskRateBreakerConfig | None = None
    error_rate: RiskRateBreakerConfig | None = None
    stale_data_seconds: float | None = Field(default=None, ge=0)
    stale_data_action: Action = "halted"


class RiskInstrumentConfig(_RiskSection):
    """One instrument's limits in its own units (prices in quote currency, quantities in
    the base asset or contracts), converted exactly to ticks and lots."""

    tick: Decimal = Field(gt=0)
    lot: Decimal = Field(gt=0)
    multiplier: Decimal = Field(default=Decimal(1), gt=0)
    venue: int = Field(default=0, ge=0, le=255)
    max_order_qty: Decimal
    min_order_qty: Decimal | None = None
    max_position_qty: Decimal
    max_notional: float
    min_notional: float = 0.0
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    price_band_bps: float = 500.0


# Core limit names -> config key names (see RiskConfig.config_key).
_INSTRUMENT_KEYS = {
    "min_price_ticks": "min_price",
    "max_price_ticks": "max_price",
    "min_qty_lots": "min_order_qty",
    "max_qty_lots": "max_order_qty",
    "max_position_lots": "max_position_qty",
    "min_notional_quote": "min_notional",
    "max_notional_quote": "max_notional",
}


class RiskConfig(_RiskSection):
    """The ``[risk]`` section: account limits, breakers and ``[risk.instruments.SYMBOL]``
    tables, in config units (seconds, quote currency, instrument units). Instrument
    ``i`` of the engine is the ``i``-th table; symbols are upper-cased."""

    starting_equity: float
    max_gross_exposure: float
    max_net_exposure: float
    max_open_orders: int = Field(default=1000, ge=0, le=_U32)
    strategy_count: int = Field(default=1, ge=0, le=2**16 - 1)
    strategy_throttle: RiskThrottleConfig | None = None
    venue_throttle: RiskThrottleConfig | None = None
    max_reference_age_seconds: float = Field(default=5.0, ge=0)
    self_trade_prevention: bool = True
    duplicate_id_memory: int = Field(default=65536, ge=0, le=_U32)
    breakers: RiskBreakersConfig = Field(default_factory=RiskBreakersConfig)
    instruments: dict[str, RiskInstrumentConfig] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _merge_symbols(cls, data: Any) -> Any:
        """Environment keys arrive lower-cased (``BACONALGO__RISK__INSTRUMENTS__BTCUSDT__...``
        -> ``btcusdt``): merge them into the file's table of the same symbol."""
        if not isinstance(data, dict) or not isinstance(data.get("instruments"), dict):
            return data
        merged: dict[str, Any] = {}
        for symbol, table in data["instruments"].items():
            key = str(symbol).upper()
            if isinstance(table, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **table}
            else:
                merged[key] = table
        return {**data, "instruments": merged}

    @model_validator(mode="after")
    def _core_rules(self) -> RiskConfig:
        """Converts to the engine's limits and checks them with the engine's own rules, so
        a config that loads is one the engine takes."""
        try:
            self.limits().validate()
        except RiskLimitsError as e:
            raise ValueError(
                f"{self.config_key(e.field)}: {e.rule} (engine limit {e.field} = {e.value})"
            ) from None
        return self

    def symbols(self) -> list[str]:
        return list(self.instruments)

    def config_key(self, field: str) -> str:
        """The config key of a core limits field: ``instruments[0].max_qty_lots`` ->
        ``risk.instruments.BTCUSDT.max_order_qty``."""
        m = re.fullmatch(r"instruments\[(\d+)\]\.(\w+)", field)
        if m:
            symbols = self.symbols()
            i = int(m.group(1))
            symbol = symbols[i] if i < len(symbols) else m.group(1)
            name = _INSTRUMENT_KEYS.get(m.group(2), m.group(2))
            return f"risk.instruments.{symbol}.{name}"
        parts = []
        for part in field.split("."):
            part = re.sub(r"_ns$", "_seconds", part)
            part = re.sub(r"_quote$", "", part)
            parts.append(part)
        return "risk." + ".".join(parts)

    def check_grid(self, tick_size: float, lot_size: float, whose: str) -> None:
        """Raises ConfigError unless the first instrument counts in ticks of
        ``tick_size`` and lots of ``lot_size`` (``whose``: the venue being checked)."""
        symbol, inst = next(iter(self.instruments.items()))
        for key, step, ours in (("tick", inst.tick, tick_size), ("lot", inst.lot, lot_size)):
            if Decimal(repr(ours)) != step:
                raise ConfigError(
                    f"risk.instruments.{symbol}.{key} = {step} but {whose} {key} size is "
                    f"{ours}: the risk engine and the venue must count in the same {key}s"
                )

    def instrument_specs(self) -> list[InstrumentSpec]:
        from baconalgo.risk import InstrumentSpec

        return [
            InstrumentSpec(float(i.tick * i.lot * i.multiplier), i.venue)
            for i in self.instruments.values()
        ]

    def limits(self) -> RiskLimits:
        """The engine's limits (ticks, lots, nanoseconds, quote currency)."""
        from baconalgo.risk import (
            BreakerLimits,
            InstrumentLimits,
            RateBreaker,
            RiskLimits,
            Throttle,
            TradingState,
            VolatilityHalt,
        )

        def action(a: Action) -> TradingState:
            return TradingState.HALTED if a == "halted" else TradingState.REDUCING

        def throttle(t: RiskThrottleConfig | None) -> Throttle | None:
            return None if t is None else Throttle(t.max_orders, _ns(t.window_seconds))

        def rate(r: RiskRateBreakerConfig | None) -> RateBreaker | None:
            if r is None:
                return None
            return RateBreaker(r.max_events, _ns(r.window_seconds), action(r.action))

        instruments = []
        for symbol, i in self.instruments.items():
            key = f"risk.instruments.{symbol}"
            instruments.append(
                InstrumentLimits(
                    max_qty_lots=_steps(i.max_order_qty, i.lot, f"{key}.max_order_qty", "lot"),
                    max_notional_quote=i.max_notional,
                    max_position_lots=_steps(
                        i.max_position_qty, i.lot, f"{key}.max_position_qty", "lot"
                    ),
                    min_qty_lots=1
                    if i.min_order_qty is None
                    else _steps(i.min_order_qty, i.lot, f"{key}.min_order_qty", "lot"),
                    min_notional_quote=i.min_notional,
                    min_price_ticks=1
                    if i.min_price is None
                    else _steps(i.min_price, i.tick, f"{key}.min_price", "tick"),
                    max_price_ticks=_I64
                    if i.max_price is None
                    else _steps(i.max_price, i.tick, f"{key}.max_price", "tick"),
                    price_band_bps=i.price_band_bps,
                )
            )
        b = self.breakers
        v = b.volatility
        return RiskLimits(
            instruments=tuple(instruments),
            max_gross_exposure_quote=self.max_gross_exposure,
            max_net_exposure_quote=self.max_net_exposure,
            max_open_orders=self.max_open_orders,
            strategy_count=self.strategy_count,
            strategy_throttle=throttle(self.strategy_throttle),
            venue_throttle=throttle(self.venue_throttle),
            max_reference_age_ns=_ns(self.max_reference_age_seconds),
            self_trade_prevention=self.self_trade_prevention,
            duplicate_id_memory=self.duplicate_id_memory,
            breakers=BreakerLimits(
                max_drawdown_frac=b.max_drawdown_frac,
                drawdown_action=action(b.drawdown_action),
                max_daily_loss_quote=b.max_daily_loss,
                daily_loss_action=action(b.daily_loss_action),
                day_start_offset_ns=_ns(b.day_start_offset_seconds),
                volatility=None
                if v is None
                else VolatilityHalt(v.max_move_frac, _ns(v.window_seconds), action(v.action)),
                reject_rate=rate(b.reject_rate),
                error_rate=rate(b.error_rate),
                stale_data_ns=None if b.stale_data_seconds is None else _ns(b.stale_data_seconds),
                stale_data_action=action(b.stale_data_action),
            ),
        )

    def build_engine(self) -> RiskEngine:
        """A risk engine with these instruments, limits and starting equity."""
        from baconalgo.risk import RiskEngine

        return RiskEngine(self.instrument_specs(), self.limits(), self.starting_equity)


def _ns(seconds: float) -> int:
    return round(seconds * 1_000_000_000)


def _steps(value: Decimal, step: Decimal, key: str, unit: str) -> int:
    """``value`` as a whole number of ``step``s, or a ValueError naming ``key``."""
    n = value / step
    if n != n.to_integral_value():
        raise ValueError(f"{key} = {value}: not a whole number of {unit}s ({unit} {step})")
    if abs(n) > _I64:
        raise ValueError(f"{key} = {value}: too large ({n} {unit}s)")
    return int(n)


class BacktestSection(_Section):
    """The ``[backtest]`` section: the simulated venue and account of ``baconalgo
    backtest`` (see ``baconalgo.backtest.BacktestConfig``). Tick and lot are decimal
    strings; with a ``[risk]`` section they must equal its first instrument's."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    init_cash: float = Field(default=10_000.0, gt=0)
    tick: Decimal = Field(default=Decimal("0.01"), gt=0)
    lot: Decimal = Field(default=Decimal("0.00000001"), gt=0)
    taker_fee: float = Field(default=0.0, gt=-1, lt=1)
    maker_fee: float = Field(default=0.0, gt=-1, lt=1)
    slippage: float = Field(default=0.0, ge=0, lt=1)
    # Quantity each simulated quote offers; unset = unlimited.
    liquidity: float | None = Field(default=None, gt=0)
    chunk_bars: int = Field(default=65_536, gt=0)
    # When a resting order fills within a bar: close | touch | trade_through.
    fill: Literal["close", "touch", "trade_through"] = "close"


class PaperRiskConfig(_Section):
    """``[paper.limits]``: the limits of the paper session's risk engine when the config has
    no ``[risk]`` section (one instrument, the traded one, in its own units). With a
    ``[risk]`` section that one is used instead."""

    max_order_qty: Decimal = Field(default=Decimal("0.01"), gt=0)
    max_position_qty: Decimal = Field(default=Decimal("0.02"), gt=0)
    max_notional: float = Field(default=2_000.0, gt=0)
    price_band_bps: float = Field(default=100.0, gt=0)
    max_gross_exposure: float = Field(default=5_000.0, gt=0)
    max_open_orders: int = Field(default=20, ge=1)


class PaperSection(_Section):
    """``[paper]``: the paper-trading session of ``baconalgo run`` / ``baconalgo paper``: a
    strategy fed by the live bus, orders filled by the simulated venue (``MarketSim``)
    against the same market data, every order through the risk engine."""

    # The main job trades paper; false: market data only.
    enabled: bool = True
    # path/to/file.py:ClassName or package.module:ClassName (relative paths: the repo).
    strategy: str = "examples/quote_maker.py:QuoteMaker"
    # The traded symbol (default: replay.symbol).
    symbol: str | None = None
    init_cash: float = Field(default=10_000.0, gt=0)
    # Binance spot, VIP 0: 0.1 % maker and taker.
    taker_fee: float = Field(default=0.001, gt=-1, lt=1)
    maker_fee: float = Field(default=0.001, gt=-1, lt=1)
    # Queue position of resting orders: risk_averse, probabilistic (power queue_power),
    # probabilistic_log.
    queue: Literal["risk_averse", "probabilistic", "probabilistic_log"] = "risk_averse"
    queue_power: float = Field(default=2.0, gt=0)
    # Strategy -> venue and venue -> strategy delays (exchange time, milliseconds).
    order_latency_ms: float = Field(default=5.0, ge=0)
    response_latency_ms: float = Field(default=5.0, ge=0)
    # Time bars for on_bar (seconds); unset: no bars.
    bar_seconds: float | None = Field(default=None, gt=0)
    # Risk engine in front of the venue ([risk] if present, else [paper.risk]).
    risk: bool = True
    limits: PaperRiskConfig = Field(default_factory=PaperRiskConfig)
    # Orders and fills kept for /api/status (the newest).
    status_orders: int = Field(default=20, ge=0)


class Config(_Section):
    bus: BusConfig = Field(default_factory=BusConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    replay: ReplayConfig = Field(default_factory=ReplayConfig)
    venues: VenuesConfig = Field(default_factory=VenuesConfig)
    recorder: RecorderConfig = Field(default_factory=RecorderConfig)
    # No [risk] section: no risk engine.
    risk: RiskConfig | None = None
    backtest: BacktestSection = Field(default_factory=BacktestSection)
    paper: PaperSection = Field(default_factory=PaperSection)

    def summary(self) -> dict[str, Any]:
        """The configuration as plain data with anything secret-looking redacted."""
        redacted: dict[str, Any] = _redact(self.model_dump(mode="json"))
        return redacted


_SECRET_WORDS = ("secret", "password", "token", "api_key", "apikey", "passphrase", "private")


def _redact(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _redact(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, key) for v in value]
    if any(w in key.lower() for w in _SECRET_WORDS):
        return "***"
    return value


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """``BACONALGO__SERVER__PORT=9000`` sets ``server.port``; values are parsed as TOML
    scalars when they parse, else taken as strings."""
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        try:
            value: Any = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = data
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(
                    f"{'.'.join(path)}: environment variable {name} goes below a non-table value"
                )
            node = child
        node[path[-1]] = value
    return data


def load_config(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Loads and validates the configuration. Raises ConfigError naming the bad key."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {p} does not exist") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file {p} is not valid TOML: {e}") from None
    data = _apply_env(data, os.environ if environ is None else environ)
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            key = ".".join(str(part) for part in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "value_error" and msg.startswith(f"{key}."):
                # A section-level rule whose message names the full key already.
                problems.append(msg)
            else:
                problems.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
