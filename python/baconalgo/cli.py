"""``baconalgo`` command line: run the engine, show the version and CPU features."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from baconalgo._core import __version__, cpu_features
from baconalgo.config import Config, load_config
from baconalgo.engine import Engine
from baconalgo.errors import ConfigError
from baconalgo.server import serve


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="baconalgo", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="start the engine: replay recorded market data through the bus, serve metrics",
    )
    run.add_argument("--config", type=Path, help="TOML configuration file")
    run.add_argument("--port", type=int, help="metrics server port (overrides server.port)")
    run.add_argument("--speed", type=float, help="replay speed, x recorded time; 0 = flat out")
    run.add_argument("--duration", type=float, help="stop after this many seconds")
    run.add_argument(
        "--exit-when-done", action="store_true", help="stop when the replay has finished"
    )
    run.add_argument("--log-level", default="INFO")
    sub.add_parser("version", help="print the version")
    sub.add_parser("cpu", help="print the CPU features the kernels can use")
    return p


def _config(args: argparse.Namespace) -> Config:
    # Command-line flags are the strongest override, so they ride the same validated path
    # as the environment.
    environ = dict(os.environ)
    if args.port is not None:
        environ["BACONALGO__SERVER__PORT"] = str(args.port)
    if args.speed is not None:
        environ["BACONALGO__REPLAY__SPEED"] = repr(float(args.speed))
    return load_config(args.config, environ)


def _summary(engine: Engine) -> str:
    status = engine.status()
    feed = status["components"]["feed"]
    bus = status["components"]["bus"]
    lines = [
        f"replayed {feed['messages']} messages -> {feed['events']} events "
        f"({feed['rejected']} rejected) from {feed['source']} over {feed['url']}",
        f"feed: {feed['snapshots']} REST snapshots, {feed['reconnects']} reconnects, "
        f"{feed['resyncs']} resyncs, {feed['gaps']} gaps",
        f"bus: {bus['published']} published, {bus['producer_waits']} producer waits",
    ]
    for c in bus["consumers"]:
        lines.append(f"  consumer {c['name']:<12} processed {c['sequence']:>9}  lag {c['lag']}")
    for name, stats in status["components"]["handlers"].items():
        shown = {k: v for k, v in stats.items() if v}
        lines.append(f"  {name}: {json.dumps(shown)}")
    for symbol, top in status["components"]["top_of_book"].items():
        lines.append(
            f"  {symbol}: book {top['book_state']}, bid {top['bid_qty']} @ {top['bid']} "
            f"ask {top['ask_qty']} @ {top['ask']} ({top['bid_levels']}/{top['ask_levels']} "
            f"levels) last {top['last_trade']} ({top['trades']} trades, {top['quotes']} quotes)"
        )
    return "\n".join(lines)


async def _run(config: Config, duration: float | None, exit_when_done: bool) -> Engine:
    engine = Engine(config)
    engine.start()
    server = await serve(engine, config.server.host, config.server.port)
    print(
        f"BaconAlgo {__version__}: replaying {config.replay.path.name} "
        f"at {config.replay.speed or 'full'}x through the Binance adapter "
        f"({engine.feed.server.ws_url}) into the bus and the Rust books.\n"
        f"  status   {server.url}/api/status\n"
        f"  health   {server.url}/api/health\n"
        f"  metrics  {server.url}/api/metrics\n"
        "Ctrl-C to stop.",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    deadline = None if duration is None else loop.time() + duration
    while not stop.is_set():
        if deadline is not None and loop.time() >= deadline:
            break
        if exit_when_done and engine.feed_done():
            # Let the consumers catch up with the last batch before the summary.
            await asyncio.sleep(0.2)
            break
        await asyncio.sleep(0.05)
    await server.stop()
    engine.stop()
    return engine


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "version":
        print(__version__)
        return 0
    if args.command == "cpu":
        for name, present in cpu_features().items():
            print(f"{name:<8} {'yes' if present else 'no'}")
        return 0
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        config = _config(args)
        engine = asyncio.run(_run(config, args.duration, args.exit_when_done))
    except ConfigError as e:
        print(f"baconalgo: {e}", file=sys.stderr)
        return 2
    print(_summary(engine))
    return 0


if __name__ == "__main__":
    sys.exit(main())
