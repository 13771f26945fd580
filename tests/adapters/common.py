"""What the venue adapter tests share: running an adapter against a replay server until
a condition holds, and the fast reconnect backoff."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from baconalgo.adapters.base import Backoff, WebsocketAdapter
from baconalgo.adapters.replay_server import ReplayServer

FAST = Backoff(initial=0.01, maximum=0.1)
CRYPTOFEED = Path(__file__).resolve().parents[2] / "data" / "cryptofeed"


async def run_until(
    server: ReplayServer,
    adapter: WebsocketAdapter,
    done: Callable[[], bool],
    timeout: float = 60.0,
    during: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Runs ``adapter`` until the server has played everything and ``done()`` holds."""
    task = asyncio.create_task(adapter.run())
    try:
        if during is not None:
            await during()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (server.done.is_set() and done()):
            assert loop.time() < deadline, f"not done in {timeout}s: {adapter.status()}"
            await asyncio.sleep(0.02)
    finally:
        adapter.stop()
        await asyncio.wait_for(task, 10)


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"{what}: not within {timeout}s"
        await asyncio.sleep(0.01)


def received_frames(path: Path) -> list[bytes]:
    """Frames the venue sent, from a cryptofeed capture (``<ts>: <json>`` lines)."""
    out = []
    with gzip.open(path, "rb") as f:
        for line in f:
            if b" <- " in line or b" <-> " in line:
                continue
            _, sep, body = line.rstrip(b"\n").partition(b": ")
            if sep:
                out.append(body)
    return out


def books_equal(books: dict[int, Any], reference: dict[int, tuple[np.ndarray, np.ndarray]]) -> bool:
    """Every book synced and level for level equal to the reference."""
    for index, (bids, asks) in reference.items():
        book = books[index]
        if book.state != "synced":
            return False
        b, a = book.book().top(100_000)
        if not (np.array_equal(b, bids) and np.array_equal(a, asks)):
            return False
    return True


class _Sync(Protocol):
    def on_events(self, events: np.ndarray) -> str: ...


def detected_skip(
    batches: list[np.ndarray],
    candidates: list[int],
    make_sync: Callable[[], _Sync],
) -> int:
    """The first of ``candidates`` (indices into ``batches``) whose loss the venue's
    checksum reveals: a change below the checksummed top levels is invisible to it, so
    a test of the mismatch path must lose a message that the checksum does catch."""
    for skip in candidates:
        sync = make_sync()
        outcomes = [sync.on_events(b) for i, b in enumerate(batches) if i != skip]
        if "checksum_mismatch" in outcomes:
            return skip
    raise AssertionError("no loss the checksum would catch")


async def run_while_waiting(
    adapter: WebsocketAdapter, condition: Callable[[], bool], what: str
) -> None:
    """Runs ``adapter`` until ``condition()`` holds, then stops it."""
    task = asyncio.create_task(adapter.run())
    try:
        await wait_for(condition, what)
    finally:
        adapter.stop()
        await asyncio.wait_for(task, 10)
