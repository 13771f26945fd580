"""Coinbase Advanced Trade market data (``level2`` arriving as ``l2_data``,
``market_trades``, ``ticker``, ``heartbeats``) with books kept in Rust ``OrderBook``s.

Procedure (PROTOCOLS.md 3): one channel per subscribe message, sent within 5 s of
connecting; ``heartbeats`` is always subscribed, because Coinbase closes channels that
go quiet for 60-90 s. Every message of a connection carries ``sequence_num``, contiguous
across all channels from 0; the decoder checks it, and a jump means messages were lost:
every book is discarded and ``level2`` subscribed again for a new snapshot. A new
connection starts its own numbering. Public channels need no JWT; ``jwt`` (a callable,
since a Coinbase JWT lives 2 minutes) adds a fresh one to every subscribe message.

Streams are ``"<channel>:<product>"`` (``"level2:BTC-USD"``) and ``"heartbeats"``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from baconalgo._core import Bus, CoinbaseDecoder
from baconalgo.adapters.base import (
    Instrument,
    ResubscribingAdapter,
    SnapshotBook,
    VenueLimits,
    chunks,
    split_stream,
)

log = logging.getLogger(__name__)

WS_URL = "wss://advanced-trade-ws.coinbase.com"
HEARTBEATS = "heartbeats"


class CoinbaseAdapter(ResubscribingAdapter):
    """Coinbase Advanced Trade public market data."""

    venue = "coinbase"
    # 8 unauthenticated messages/s per IP; no published cap on products per connection.
    limits = VenueLimits(None, 6.0, 100)
    book_channel = "level2"

    def __init__(
        self,
        instruments: Sequence[Instrument],
        bus: Bus | None = None,
        *,
        ws_url: str = WS_URL,
        channels: Sequence[str] = ("level2", "market_trades"),
        jwt: Callable[[], str] | None = None,
        **kwargs: Any,
    ) -> None:
        decoder = CoinbaseDecoder([(i.symbol, i.tick, i.lot) for i in instruments])
        super().__init__(ws_url, decoder, instruments, channels, bus, **kwargs)
        self.coinbase_decoder = decoder
        self.jwt = jwt
        self._streams.append(HEARTBEATS)

    def make_book(self, index: int, instrument: Instrument) -> SnapshotBook:
        return SnapshotBook(index)

    def _requests(self, kind: str, streams: Sequence[str]) -> list[str]:
        by_channel: dict[str, list[str]] = {}
        for stream in streams:
            channel, product = split_stream(stream)
            products = by_channel.setdefault(channel, [])
            if product is not None:
                products.append(product)
        out = []
        for channel, products in by_channel.items():
            for part in chunks(products, self.limits.max_streams_per_message) or [[]]:
                msg: dict[str, Any] = {"type": kind, "channel": channel}
                if part:
                    msg["product_ids"] = part
                if self.jwt is not None:
                    msg["jwt"] = self.jwt()
                out.append(json.dumps(msg))
        return out

    def subscribe_messages(self, streams: Sequence[str]) -> list[str]:
        return self._requests("subscribe", streams)

    def unsubscribe_messages(self, streams: Sequence[str]) -> list[str]:
        return self._requests("unsubscribe", streams)

    async def on_connected(self) -> None:
        await super().on_connected()
        self.coinbase_decoder.reconnected()

    def on_batch(self, batch: npt.NDArray[np.void], frame: bytes) -> None:
        # Before the books see this message: it may be the first after the lost ones.
        self._check_sequence()
        super().on_batch(batch, frame)

    def on_control(self, data: bytes) -> None:
        self._check_sequence()

    def _check_sequence(self) -> None:
        decoder = self.coinbase_decoder
        if not decoder.needs_resubscribe:
            return
        gap = decoder.gap()
        self.counters.gaps += 1
        log.warning(
            "sequence gap: resubscribing level2",
            extra={"venue": self.venue, "gap": gap},
        )
        for index in self.books:
            self.resubscribe_book(index)
        decoder.resubscribed()
