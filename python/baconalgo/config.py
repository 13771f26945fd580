"""Configuration as data: a TOML file, overridden by ``BACONALGO__SECTION__KEY`` environment
variables, validated at load with errors that name the key."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from baconalgo.errors import ConfigError

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
    the Binance adapter, as the venue would (the main job's source for now)."""

    path: Path = DEFAULT_RECORDING
    venue: Literal["binance_spot", "binance_usdm"] = "binance_spot"
    symbol: str = "BTCUSDT"
    # Multiple of recorded time; 0 replays as fast as the engine takes it.
    speed: float = Field(default=1.0, ge=0)
    # Streams subscribed per symbol.
    channels: list[str] = Field(default_factory=lambda: ["depth@100ms", "bookTicker", "trade"])
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


class Config(_Section):
    bus: BusConfig = Field(default_factory=BusConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    replay: ReplayConfig = Field(default_factory=ReplayConfig)

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
            problems.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
