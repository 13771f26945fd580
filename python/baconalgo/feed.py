"""Exchange message decoders (Rust): bytes in, EVENT_DTYPE arrays out.

Prices and quantities are parsed from the exchange's decimal strings straight into the
instrument's integer ticks and lots, never through a float. A malformed message raises
``FeedError`` and is counted by reason in ``counters()``; ``decode_many`` decodes a list
of messages with the GIL released, counting and skipping rejects.
"""

from __future__ import annotations

from baconalgo._core import BinanceDecoder, CoinbaseDecoder, KrakenDecoder, OkxDecoder

Decoder = BinanceDecoder | OkxDecoder | KrakenDecoder | CoinbaseDecoder

__all__ = ["BinanceDecoder", "CoinbaseDecoder", "Decoder", "KrakenDecoder", "OkxDecoder"]
