"""Configuration: TOML, environment overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from baconalgo import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "baconalgo.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_are_valid_and_point_at_the_bundled_recording() -> None:
    c = load_config(None, environ={})
    assert c.bus.capacity == 65536
    assert c.server.host == "127.0.0.1"
    assert c.replay.path.exists()


def test_file_values_and_environment_overrides(tmp_path: Path) -> None:
    p = write(tmp_path, "[bus]\ncapacity = 1024\nwait = 'blocking'\n[server]\nport = 9000\n")
    c = load_config(p, environ={"BACONALGO__SERVER__PORT": "9100", "BACONALGO__REPLAY__SPEED": "0"})
    assert (c.bus.capacity, c.bus.wait, c.server.port, c.replay.speed) == (
        1024,
        "blocking",
        9100,
        0,
    )


@pytest.mark.parametrize(
    ("text", "env", "key"),
    [
        ("[bus]\ncapacity = 1000\n", {}, "bus.capacity"),
        ("[bus]\nwait = 'nap'\n", {}, "bus.wait"),
        ("[server]\nport = 70000\n", {}, "server.port"),
        ("[server]\nprot = 1\n", {}, "server.prot"),
        ("", {"BACONALGO__SERVER__PORT": "abc"}, "server.port"),
        ("[replay]\nspeed = -1\n", {}, "replay.speed"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(write(tmp_path, text), environ=env)


def test_missing_and_malformed_files_say_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", environ={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[bus\n"), environ={})


def test_summary_redacts_secret_looking_keys() -> None:
    from baconalgo.config import _redact

    data = {"venue": {"api_key": "abc", "secret": "s", "url": "wss://x"}, "n": 1}
    assert _redact(data) == {"venue": {"api_key": "***", "secret": "***", "url": "wss://x"}, "n": 1}


RISK = """
[risk]
starting_equity = 100000.0
max_gross_exposure = 500000.0
max_net_exposure = 250000.0
strategy_throttle = { max_orders = 50, window_seconds = 1.5 }
[risk.breakers]
max_drawdown_frac = 0.1
max_daily_loss = 5000.0
volatility = { max_move_frac = 0.05, window_seconds = 60.0, action = "reducing" }
[risk.instruments.BTCUSDT]
tick = "0.1"
lot = "0.001"
max_order_qty = 5
max_position_qty = 20
max_notional = 250000.0
min_price = 1000
[risk.instruments.ethusdt]
tick = "0.01"
lot = "0.01"
venue = 1
max_order_qty = 50
min_order_qty = 0.1
max_position_qty = 200
max_notional = 100000.0
"""


def test_no_risk_section_means_no_risk_engine() -> None:
    assert load_config(None, environ={}).risk is None


def test_risk_section_converts_to_engine_units(tmp_path: Path) -> None:
    from baconalgo.risk import TradingState

    c = load_config(write(tmp_path, RISK), environ={})
    assert c.risk is not None
    assert c.risk.symbols() == ["BTCUSDT", "ETHUSDT"]
    lim = c.risk.limits()
    btc, eth = lim.instruments
    # 5 BTC / 0.001 = 5000 lots; 20 / 0.001 = 20000; 1000 USDT / 0.1 = 10000 ticks
    assert (btc.max_qty_lots, btc.max_position_lots, btc.min_qty_lots) == (5000, 20000, 1)
    assert (btc.min_price_ticks, btc.max_price_ticks) == (10000, 2**63 - 1)
    assert (eth.max_qty_lots, eth.min_qty_lots, eth.max_position_lots) == (5000, 10, 20000)
    assert lim.strategy_throttle is not None
    assert (lim.strategy_throttle.max_orders, lim.strategy_throttle.window_ns) == (
        50,
        1_500_000_000,
    )
    assert lim.breakers.max_drawdown_frac == 0.1
    assert lim.breakers.max_daily_loss_quote == 5000.0
    assert lim.breakers.volatility is not None
    assert lim.breakers.volatility.action == TradingState.REDUCING
    assert lim.breakers.volatility.window_ns == 60_000_000_000
    specs = c.risk.instrument_specs()
    assert (specs[0].venue, specs[1].venue) == (0, 1)
    assert specs[0].quote_per_tick_lot == pytest.approx(0.1 * 0.001, rel=1e-15)
    engine = c.risk.build_engine()
    assert engine.instrument_count == 2
    assert engine.equity_quote == 100000.0


def test_risk_environment_overrides_reach_instrument_tables(tmp_path: Path) -> None:
    env = {
        "BACONALGO__RISK__INSTRUMENTS__BTCUSDT__MAX_ORDER_QTY": "2",
        "BACONALGO__RISK__BREAKERS__MAX_DRAWDOWN_FRAC": "0.05",
        "BACONALGO__RISK__MAX_OPEN_ORDERS": "7",
    }
    c = load_config(write(tmp_path, RISK), environ=env)
    assert c.risk is not None
    lim = c.risk.limits()
    assert lim.instruments[0].max_qty_lots == 2000
    assert lim.instruments[0].max_position_lots == 20000  # the file's other keys stay
    assert lim.breakers.max_drawdown_frac == 0.05
    assert lim.max_open_orders == 7


@pytest.mark.parametrize(
    ("env", "key"),
    [
        # type and range checks (pydantic)
        ({"BACONALGO__RISK__MAX_GROSS_EXPOSURE": "nan"}, "risk.max_gross_exposure"),
        ({"BACONALGO__RISK__MAX_NET_EXPOSURE": "inf"}, "risk.max_net_exposure"),
        ({"BACONALGO__RISK__INSTRUMENTS__BTCUSDT__MAX_NOTIONAL": "nan"},
         "risk.instruments.BTCUSDT.max_notional"),
        ({"BACONALGO__RISK__INSTRUMENTS__BTCUSDT__LOT": "0"}, "risk.instruments.BTCUSDT.lot"),
        ({"BACONALGO__RISK__INSTRUMENTS__BTCUSDT__MAX_ORDER_QTY": "'abc'"},
         "risk.instruments.BTCUSDT.max_order_qty"),
        ({"BACONALGO__RISK__INSTRUMENTS__BTCUSDT__MAX_QTY": "1"},
         "risk.instruments.BTCUSDT.max_qty"),
        ({"BACONALGO__RISK__BREAKERS__DRAWDOWN_ACTION": "active"},
         "risk.breakers.drawdown_action"),
        # off the lot / tick grid (conversion)
        ({"BACONALGO__RISK__INSTRUMENTS__BTCUSDT__MAX_ORDER_QTY": "0.0005"},
         "risk.instruments.BTCUSDT.max_order_qty"),
        ({"BACONALGO__RISK__INSTRUMENTS__ETHUSDT__MIN_PRICE": "0.005"},
         "risk.instruments.ETHUSDT.min_price"),
        # the engine's own rules (Rust RiskLimits::validate), mapped back to config keys
        ({"BACONALGO__RISK__INSTRUMENTS__ETHUSDT__MAX_ORDER_QTY": "0.05"},
         "risk.instruments.ETHUSDT.max_order_qty"),
        ({"BACONALGO__RISK__INSTRUMENTS__BTCUSDT__MAX_POSITION_QTY": "-1"},
         "risk.instruments.BTCUSDT.max_position_qty"),
        ({"BACONALGO__RISK__INSTRUMENTS__BTCUSDT__MAX_PRICE": "999"},
         "risk.instruments.BTCUSDT.max_price"),
        ({"BACONALGO__RISK__INSTRUMENTS__BTCUSDT__PRICE_BAND_BPS": "0"},
         "risk.instruments.BTCUSDT.price_band_bps"),
        ({"BACONALGO__RISK__MAX_GROSS_EXPOSURE": "0"}, "risk.max_gross_exposure"),
        ({"BACONALGO__RISK__MAX_OPEN_ORDERS": "0"}, "risk.max_open_orders"),
        ({"BACONALGO__RISK__STRATEGY_THROTTLE__MAX_ORDERS": "0"},
         "risk.strategy_throttle.max_orders"),
        ({"BACONALGO__RISK__STRATEGY_THROTTLE__WINDOW_SECONDS": "0"},
         "risk.strategy_throttle.window_seconds"),
        ({"BACONALGO__RISK__MAX_REFERENCE_AGE_SECONDS": "0"}, "risk.max_reference_age_seconds"),
        ({"BACONALGO__RISK__BREAKERS__MAX_DRAWDOWN_FRAC": "1.5"},
         "risk.breakers.max_drawdown_frac"),
        ({"BACONALGO__RISK__BREAKERS__MAX_DAILY_LOSS": "-5"}, "risk.breakers.max_daily_loss"),
        ({"BACONALGO__RISK__BREAKERS__VOLATILITY__MAX_MOVE_FRAC": "0"},
         "risk.breakers.volatility.max_move_frac"),
        ({"BACONALGO__RISK__BREAKERS__DAY_START_OFFSET_SECONDS": "86400"},
         "risk.breakers.day_start_offset_seconds"),
        ({"BACONALGO__RISK__BREAKERS__STALE_DATA_SECONDS": "0"},
         "risk.breakers.stale_data_seconds"),
    ],
)  # fmt: skip
def test_bad_risk_values_name_the_key(tmp_path: Path, env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.") + r"\b"):
        load_config(write(tmp_path, RISK), environ=env)


def test_risk_section_needs_an_instrument_and_the_account_limits(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"risk\.instruments"):
        load_config(write(tmp_path, "[risk]\nstarting_equity = 1.0\n"), environ={})
    with pytest.raises(ConfigError, match=r"risk\.max_gross_exposure"):
        load_config(write(tmp_path, "[risk]\nstarting_equity = 1.0\n"), environ={})


def test_venue_urls_are_configurable_and_a_bad_one_names_its_key() -> None:
    from baconalgo.adapters import make_adapter
    from baconalgo.adapters.base import Instrument

    config = load_config(
        None,
        environ={
            "BACONALGO__VENUES__OKX__WS_URL": "wss://ws.example.test/ws/v5/public",
            "BACONALGO__VENUES__BINANCE_SPOT__REST_URL": "https://rest.example.test/api/v3/depth",
            "BACONALGO__VENUES__KRAKEN__DEPTH": "25",
        },
    )
    btc = [Instrument("BTC-USDT", "0.1", "0.00000001")]
    assert make_adapter("okx", btc, config.venues).url == "wss://ws.example.test/ws/v5/public"
    spot = make_adapter(
        "binance_spot", [Instrument("BTCUSDT", "0.01", "0.00000001")], config.venues
    )
    assert spot.rest_url == "https://rest.example.test/api/v3/depth"  # type: ignore[attr-defined]
    assert spot.url == "wss://stream.binance.com:9443/stream"
    kraken = make_adapter("kraken", [Instrument("BTC/USD", "0.1", "0.00000001")], config.venues)
    assert kraken.depth == 25 and kraken.url == "wss://ws.kraken.com/v2"  # type: ignore[attr-defined]
    coinbase = make_adapter(
        "coinbase", [Instrument("BTC-USD", "0.01", "0.00000001")], config.venues
    )
    assert coinbase.url == "wss://advanced-trade-ws.coinbase.com"
    with pytest.raises(ValueError, match="unknown venue 'bitmex'"):
        make_adapter("bitmex", btc, config.venues)
    with pytest.raises(ConfigError, match=r"venues\.okx\.ws_url: .*wss://"):
        load_config(None, environ={"BACONALGO__VENUES__OKX__WS_URL": "https://ws.okx.com"})
    with pytest.raises(ConfigError, match=r"venues\.kraken\.depth"):
        load_config(None, environ={"BACONALGO__VENUES__KRAKEN__DEPTH": "15"})
    with pytest.raises(ConfigError, match=r"venues\.coinbase\.wss_url"):
        load_config(None, environ={"BACONALGO__VENUES__COINBASE__WSS_URL": "wss://x"})
    with pytest.raises(ConfigError, match=r"recorder\.flush_events"):
        load_config(None, environ={"BACONALGO__RECORDER__FLUSH_EVENTS": "0"})
