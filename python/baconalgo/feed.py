"""Exchange message decoders (Rust): bytes in, EVENT_DTYPE arrays out.

Prices and quantities are parsed from the exchange's decimal strings straight into the
instrument's integer ticks and lots, never through a float.
"""

from __future__ import annotations

from baconalgo._core import BinanceDecoder

__all__ = ["BinanceDecoder"]
