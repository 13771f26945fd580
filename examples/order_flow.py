"""Order-flow imbalance on real Binance trades: decode in Rust, fan out on the bus, react in
Python on numpy batches. Run from the repository root: `.venv/bin/python examples/order_flow.py`."""

import gzip

import baconalgo as ba

decoder = ba.BinanceDecoder("spot", [("BTCUSDT", "0.01", "0.00000001")])
bus = ba.Bus(1 << 16)
bus.add_consumer("checksum", "checksum")  # a Rust consumer thread
bus.add_poller("strategy", after=["checksum"])  # this script, fed in numpy batches
bus.start()
flow = 0  # aggressor-signed traded quantity, in lots


def on_batch(batch):
    global flow
    trades = batch[batch["kind"] == ba.EventKind.TRADE]
    buys = trades["side"] == ba.Side.BUY
    flow += int(trades["qty_lots"][buys].sum() - trades["qty_lots"][~buys].sum())


with gzip.open("data/binance/spot_btcusdt_20240808.gz", "rb") as recording:
    for line in recording:
        ts, _, message = line.partition(b" ")
        if not message.startswith(b'{"lastUpdateId"'):  # skip the REST snapshot line
            bus.publish_batch(decoder.decode(message, int(ts)))
        on_batch(bus.poll("strategy"))
bus.close()  # drains the Rust consumers; the poller keeps what is left
try:
    while True:
        on_batch(bus.poll("strategy"))
except ba.BusClosed:  # closed and everything read: the end of the stream
    pass
print(f"net aggressor flow: {flow / 1e8:+.4f} BTC over {bus.counters()['published']} events")
