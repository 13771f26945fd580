"""Kraken spot market data (``book`` and ``trade``) with books kept in Rust by
``KrakenBookSync`` at the subscribed depth.

Live Kraken is WebSocket v2 (``wss://ws.kraken.com/v2``: ``{"method":"subscribe",
"params":{"channel":"book","symbol":[..],"depth":N}}``); the bundled real capture is v1
(``wss://ws.kraken.com``: ``{"event":"subscribe","pair":[..],"subscription":{..}}``), so
the adapter speaks either (``protocol``) and the decoder reads both. Book procedure
(PROTOCOLS.md 4.2): after every message the book is cut to the subscribed depth and its
CRC32 compared with Kraken's; a mismatch discards the book and resubscribes it for a new
snapshot. Kraken sends no sequence ids, so its checksum (top 10 levels) is the only guard:
a lost change deeper in the book shows only once it reaches the top 10.

Streams are ``"book:<symbol>"`` and ``"trade:<symbol>"`` (``"book:XBT/USD"``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any, Literal

from baconalgo._core import Bus, KrakenBookSync, KrakenDecoder
from baconalgo.adapters.base import (
    Instrument,
    ResubscribingAdapter,
    VenueLimits,
    chunks,
    split_stream,
)

WS_URL_V2 = "wss://ws.kraken.com/v2"
WS_URL_V1 = "wss://ws.kraken.com"
BOOK_DEPTHS = (10, 25, 100, 500, 1000)


class KrakenAdapter(ResubscribingAdapter):
    """Kraken spot websocket, v2 (live) or v1 (the recordings)."""

    venue = "kraken"
    # Kraken publishes no per-connection stream cap for public channels; it throttles
    # request bursts, so requests are spaced.
    limits = VenueLimits(None, 5.0, 200)
    book_channel = "book"

    def __init__(
        self,
        instruments: Sequence[Instrument],
        bus: Bus | None = None,
        *,
        protocol: Literal["v2", "v1"] = "v2",
        ws_url: str | None = None,
        depth: int = 10,
        channels: Sequence[str] = ("book", "trade"),
        app_ping_interval: float | None = 20.0,
        **kwargs: Any,
    ) -> None:
        if protocol not in ("v1", "v2"):
            raise ValueError(f"kraken protocol must be 'v1' or 'v2', got {protocol!r}")
        if depth not in BOOK_DEPTHS:
            raise ValueError(f"kraken book depth must be one of {BOOK_DEPTHS}, got {depth}")
        self.protocol = protocol
        self.depth = depth
        self._req_ids = itertools.count(1)
        decoder = KrakenDecoder([(i.symbol, i.tick, i.lot) for i in instruments])
        super().__init__(
            ws_url or (WS_URL_V2 if protocol == "v2" else WS_URL_V1),
            decoder,
            instruments,
            channels,
            bus,
            app_ping_interval=app_ping_interval,
            **kwargs,
        )
        self.kraken_decoder = decoder

    def make_book(self, index: int, instrument: Instrument) -> KrakenBookSync:
        return KrakenBookSync(index, instrument.tick, instrument.lot, self.depth)

    def ping_message(self) -> str:
        if self.protocol == "v2":
            return json.dumps({"method": "ping", "req_id": next(self._req_ids)})
        return json.dumps({"event": "ping", "reqid": next(self._req_ids)})

    def _requests(self, op: str, streams: Sequence[str]) -> list[str]:
        by_channel: dict[str, list[str]] = {}
        for stream in streams:
            channel, symbol = split_stream(stream)
            if symbol is None:
                raise ValueError(f"kraken: stream {stream!r} names no symbol")
            by_channel.setdefault(channel, []).append(symbol)
        out = []
        for channel, symbols in by_channel.items():
            for part in chunks(symbols, self.limits.max_streams_per_message):
                out.append(json.dumps(self._request(op, channel, part)))
        return out

    def _request(self, op: str, channel: str, symbols: list[str]) -> dict[str, Any]:
        if self.protocol == "v2":
            params: dict[str, Any] = {"channel": channel, "symbol": symbols}
            if channel == "book":
                params["depth"] = self.depth
            return {"method": op, "params": params, "req_id": next(self._req_ids)}
        subscription: dict[str, Any] = {"name": channel}
        if channel == "book":
            subscription["depth"] = self.depth
        return {
            "event": op,
            "pair": symbols,
            "subscription": subscription,
            "reqid": next(self._req_ids),
        }

    def subscribe_messages(self, streams: Sequence[str]) -> list[str]:
        return self._requests("subscribe", streams)

    def unsubscribe_messages(self, streams: Sequence[str]) -> list[str]:
        return self._requests("unsubscribe", streams)
