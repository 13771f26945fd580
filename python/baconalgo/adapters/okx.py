"""OKX v5 public market data (``books``, ``trades``, ``tickers``) with books kept in Rust
by ``OkxBookSync``.

Book procedure (OKX v5 docs, PROTOCOLS.md 4.1): subscribing ``books`` brings a 400-level
snapshot, then updates; each update's ``prevSeqId`` must be the previous ``seqId`` and,
while OKX still computed it (before 2026-06-23; the bundled 2022 capture has it), the
CRC32 ``checksum`` of the top 25 levels must match. A gap or a mismatch discards the book
and resubscribes its ``books`` stream for a new snapshot. OKX drops a connection silent
for 30 s: after ``app_ping_interval`` of silence the adapter sends the text ``ping`` and
expects ``pong``.

Streams are ``"<channel>:<instId>"``: ``"books:BTC-USDT"``, ``"trades:BTC-USDT"``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from baconalgo._core import Bus, OkxBookSync, OkxDecoder
from baconalgo.adapters.base import (
    Instrument,
    ResubscribingAdapter,
    VenueLimits,
    chunks,
    split_stream,
)

WS_URL = "wss://ws.okx.com:8443/ws/v5/public"

# OKX closes a connection with no traffic for 30 s; ping well before.
DEFAULT_PING_INTERVAL = 20.0


class OkxAdapter(ResubscribingAdapter):
    """OKX public websocket: books with seqId/checksum checks, trades and tickers."""

    venue = "okx"
    # OKX: 3 requests/s per connection, 480 subscribe/unsubscribe requests per connection
    # per hour, a request's channel list under 64 KB (about 1,000 args); no cap on the
    # number of channels a connection holds.
    limits = VenueLimits(
        max_streams_per_connection=None,
        max_messages_per_second=2.5,
        max_streams_per_message=500,
        max_subscribe_requests_per_hour=480,
    )
    book_channel = "books"

    def __init__(
        self,
        instruments: Sequence[Instrument],
        bus: Bus | None = None,
        *,
        ws_url: str = WS_URL,
        channels: Sequence[str] = ("books", "trades"),
        app_ping_interval: float | None = DEFAULT_PING_INTERVAL,
        **kwargs: Any,
    ) -> None:
        decoder = OkxDecoder([(i.symbol, i.tick, i.lot) for i in instruments])
        super().__init__(
            ws_url,
            decoder,
            instruments,
            channels,
            bus,
            app_ping_interval=app_ping_interval,
            **kwargs,
        )
        self.okx_decoder = decoder

    def make_book(self, index: int, instrument: Instrument) -> OkxBookSync:
        return OkxBookSync(index, instrument.tick, instrument.lot)

    def ping_message(self) -> str:
        return "ping"

    def _op(self, op: str, streams: Sequence[str]) -> list[str]:
        out = []
        for part in chunks(streams, self.limits.max_streams_per_message):
            args = []
            for stream in part:
                channel, symbol = split_stream(stream)
                args.append(
                    {"channel": channel}
                    if symbol is None
                    else {"channel": channel, "instId": symbol}
                )
            out.append(json.dumps({"op": op, "args": args}, separators=(",", ":")))
        return out

    def subscribe_messages(self, streams: Sequence[str]) -> list[str]:
        return self._op("subscribe", streams)

    def unsubscribe_messages(self, streams: Sequence[str]) -> list[str]:
        return self._op("unsubscribe", streams)
