"""``baconalgo`` command line: run the engine (a paper-trading session on the replayed
market data), paper-trade or backtest a strategy, show the version and CPU features."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from baconalgo._core import __version__, cpu_features
from baconalgo.config import Config, load_config
from baconalgo.engine import Engine
from baconalgo.errors import BaconAlgoError, ConfigError
from baconalgo.server import serve


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="baconalgo", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="start the engine: replay recorded market data through the bus, paper-trade "
        "the [paper] strategy on it, serve metrics",
    )
    paper = sub.add_parser(
        "paper",
        help="paper-trade a strategy on the configured feed: path/to/file.py:ClassName",
    )
    paper.add_argument("strategy", help="the Strategy subclass, as path/to/file.py:ClassName")
    for p_ in (run, paper):
        p_.add_argument("--config", type=Path, help="TOML configuration file")
        p_.add_argument("--port", type=int, help="metrics server port (overrides server.port)")
        p_.add_argument("--speed", type=float, help="replay speed, x recorded time; 0 = flat out")
        p_.add_argument("--duration", type=float, help="stop after this many seconds")
        p_.add_argument(
            "--exit-when-done", action="store_true", help="stop when the replay has finished"
        )
        p_.add_argument("--log-level", default="INFO")
    bt = sub.add_parser(
        "backtest",
        help="backtest a strategy over bars: path/to/file.py:ClassName (or module:ClassName)",
    )
    bt.add_argument("strategy", help="the Strategy subclass, as path/to/file.py:ClassName")
    bt.add_argument(
        "--data", required=True, type=Path, help="bars: .csv[.gz], .parquet or a recorder dir"
    )
    bt.add_argument("--config", type=Path, help="TOML configuration ([backtest], optional [risk])")
    bt.add_argument("--out", type=Path, help="write the result tables (Parquet) and metrics here")
    bt.add_argument("--report", type=Path, help="write an HTML report (equity, drawdown, trades)")
    bt.add_argument("--instrument", type=int, help="instrument index in a recorder dir")
    bt.add_argument("--quiet", action="store_true", help="no progress bar")
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
    if args.command == "paper":
        environ["BACONALGO__PAPER__ENABLED"] = "true"
        environ["BACONALGO__PAPER__STRATEGY"] = json.dumps(args.strategy)
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
    if engine.paper is not None:
        if engine.paper.summary is not None:
            lines.append(engine.paper.summary)
        if engine.paper.error is not None:
            lines.append(f"paper session failed: {engine.paper.error}")
    return "\n".join(lines)


async def _run(config: Config, duration: float | None, exit_when_done: bool) -> Engine:
    engine = Engine(config)
    engine.start()
    server = await serve(engine, config.server.host, config.server.port)
    trading = ""
    if config.paper.enabled:
        trading = (
            f"\nPaper-trading {config.paper.strategy} on it: simulated fills from the same "
            f"market data, {'risk engine on' if config.paper.risk else 'no risk engine'}."
        )
    print(
        f"BaconAlgo {__version__}: replaying {config.replay.path.name} "
        f"at {config.replay.speed or 'full'}x through the Binance adapter "
        f"({engine.feed.server.ws_url}) into the bus and the Rust books.{trading}\n"
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


def load_strategy(spec: str) -> type[Any]:
    """``path/to/file.py:ClassName`` or ``package.module:ClassName`` -> the class."""
    from baconalgo.strategy import Strategy

    target, sep, name = spec.rpartition(":")
    if not sep or not target or not name:
        raise ValueError(f"strategy {spec!r}: expected path/to/file.py:ClassName")
    if target.endswith(".py") or os.sep in target:
        path = Path(target)
        if not path.is_file():
            raise ValueError(f"strategy file {path} does not exist")
        module_name = f"baconalgo_user_{path.stem}"
        loader = importlib.util.spec_from_file_location(module_name, path)
        if loader is None or loader.loader is None:
            raise ValueError(f"cannot load {path} as a Python module")
        module = importlib.util.module_from_spec(loader)
        sys.modules[module_name] = module
        loader.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ValueError(f"{spec}: {name} is not a baconalgo.Strategy subclass in {target}")
    return cls


def _backtest(args: argparse.Namespace) -> int:
    from baconalgo import backtest

    config = load_config(args.config, dict(os.environ))
    cls = load_strategy(args.strategy)
    result = backtest.run(
        cls(),
        args.data,
        backtest.config_from(config.backtest),
        risk=config.risk,
        progress=False if args.quiet else None,
        instrument=args.instrument,
    )
    print(result.summary())
    if args.out is not None:
        for path in result.write(args.out):
            print(f"wrote {path}")
    if args.report is not None:
        from baconalgo.backtest.report import write_report

        title = f"{cls.__name__} on {args.data.name}"
        print(f"wrote {write_report(result, args.report, title=title)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "backtest":
        try:
            return _backtest(args)
        except (ConfigError, BaconAlgoError, ValueError, FileNotFoundError) as e:
            print(f"baconalgo backtest: {e}", file=sys.stderr)
            return 2
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
    except (ConfigError, ValueError) as e:
        print(f"baconalgo {args.command}: {e}", file=sys.stderr)
        return 2
    print(_summary(engine))
    return 0


if __name__ == "__main__":
    sys.exit(main())
