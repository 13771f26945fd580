"""Order books (Rust): the L2 ``OrderBook`` keyed by integer price, and the synchronisers
that keep one in step with a venue's stream.

* ``BinanceBookSync``: REST snapshot + depth diffs, spot (``U == prev u + 1``) or USD-M
  (``pu == prev u``) continuity; ``needs_snapshot`` after a gap.
* ``OkxBookSync``: OKX ``books`` with seqId/prevSeqId continuity and CRC32 checksums.
* ``KrakenBookSync``: Kraken ``book`` at a subscribed depth with CRC32 checksums.

All take decoded EVENT_DTYPE batches (one or more messages) and apply them with the GIL
released; each object is internally locked, so a status thread may read while a feed
thread writes. Sides are ``Side.BID``/``Side.ASK`` or ``"bid"``/``"ask"``.
"""

from __future__ import annotations

from baconalgo._core import BinanceBookSync, KrakenBookSync, OkxBookSync, OrderBook

BookSync = BinanceBookSync | OkxBookSync | KrakenBookSync

__all__ = ["BinanceBookSync", "BookSync", "KrakenBookSync", "OkxBookSync", "OrderBook"]
