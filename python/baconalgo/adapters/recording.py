"""Replays a recorded market data file (``<local_ts_ns> <json>`` per line, gzip or plain)
through a decoder onto the bus, at recorded pace times a speed factor."""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from baconalgo._core import BinanceDecoder, Bus
from baconalgo.errors import BusClosed, FeedError

log = logging.getLogger(__name__)

_SNAPSHOT_PREFIX = b'{"lastUpdateId"'


def read_recording(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yields ``(local_ts_ns, message)`` for each line; raises ValueError naming the line
    when a line has no timestamp."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            ts, sep, message = line.partition(b" ")
            if not sep or not ts.isdigit():
                raise ValueError(f"{path}:{lineno}: expected '<local_ts_ns> <json>'")
            yield int(ts), message


@dataclass
class ReplayStats:
    messages: int = 0
    events: int = 0
    rejected: int = 0
    done: bool = False
    error: str | None = None
    last_reject: str | None = None
    started_ns: int = field(default_factory=time.time_ns)


class RecordingReplayer:
    """Decodes each recorded message and publishes its events as one batch.

    A message the decoder rejects is counted, logged with the reason, and skipped: the
    replay goes on.
    """

    def __init__(
        self,
        path: Path,
        decoder: BinanceDecoder,
        bus: Bus,
        symbol: str,
        speed: float = 1.0,
    ) -> None:
        self.path = path
        self.decoder = decoder
        self.bus = bus
        self.symbol = symbol
        self.speed = speed
        self.stats = ReplayStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="replay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Waits for the replay to finish; True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.stats.done

    def _run(self) -> None:
        try:
            self._replay()
        except BusClosed:
            log.info("replay stopped: bus closed")
        except Exception as e:  # reported in status; the engine stays up
            self.stats.error = f"{type(e).__name__}: {e}"
            log.exception("replay failed")
        finally:
            self.stats.done = True

    def _replay(self) -> None:
        first_ts: int | None = None
        wall_start = time.monotonic()
        for ts, message in read_recording(self.path):
            if self._stop.is_set():
                return
            if first_ts is None:
                first_ts = ts
            if self.speed > 0:
                due = (ts - first_ts) / 1e9 / self.speed
                delay = due - (time.monotonic() - wall_start)
                if delay > 0 and self._stop.wait(delay):
                    return
            self.stats.messages += 1
            try:
                if message.startswith(_SNAPSHOT_PREFIX):
                    batch = self.decoder.decode_snapshot(self.symbol, message, ts)
                else:
                    batch = self.decoder.decode(message, ts)
            except FeedError as e:
                self.stats.rejected += 1
                self.stats.last_reject = str(e)
                log.warning("rejected message", extra={"path": str(self.path), "reason": str(e)})
                continue
            if len(batch):
                self.bus.publish_batch(batch)
                self.stats.events += len(batch)
