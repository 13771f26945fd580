"""Market data in: venue adapters (websockets, REST snapshots) and recorded-data replay.
Decoding happens in Rust (`baconalgo.feed`); adapters move bytes and keep time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from baconalgo._core import Bus
    from baconalgo.adapters.base import Instrument, WebsocketAdapter
    from baconalgo.config import VenuesConfig

VENUES = ("binance_spot", "binance_usdm", "okx", "kraken", "coinbase")


def make_adapter(
    venue: str,
    instruments: Sequence[Instrument],
    venues: VenuesConfig,
    bus: Bus | None = None,
    **kwargs: Any,
) -> WebsocketAdapter:
    """The adapter of ``venue`` (one of ``VENUES``), connecting to the URLs configured
    under ``[venues.<venue>]``; ``kwargs`` go to the adapter (channels, backoff...)."""
    if venue in ("binance_spot", "binance_usdm"):
        from baconalgo.adapters.binance import BinanceAdapter

        if venue == "binance_spot":
            spot = venues.binance_spot
            return BinanceAdapter(
                "spot", instruments, bus, ws_url=spot.ws_url, rest_url=spot.rest_url, **kwargs
            )
        usdm = venues.binance_usdm
        return BinanceAdapter(
            "usdm", instruments, bus, ws_url=usdm.ws_url, rest_url=usdm.rest_url, **kwargs
        )
    if venue == "okx":
        from baconalgo.adapters.okx import OkxAdapter

        return OkxAdapter(instruments, bus, ws_url=venues.okx.ws_url, **kwargs)
    if venue == "kraken":
        from baconalgo.adapters.kraken import KrakenAdapter

        k = venues.kraken
        return KrakenAdapter(
            instruments, bus, protocol=k.protocol, ws_url=k.ws_url, depth=k.depth, **kwargs
        )
    if venue == "coinbase":
        from baconalgo.adapters.coinbase import CoinbaseAdapter

        return CoinbaseAdapter(instruments, bus, ws_url=venues.coinbase.ws_url, **kwargs)
    raise ValueError(f"unknown venue {venue!r}: expected one of {', '.join(VENUES)}")
