"""Market data in: venue adapters (websockets, REST snapshots) and recorded-data replay.
Decoding happens in Rust (`baconalgo.feed`); adapters move bytes and keep time."""
