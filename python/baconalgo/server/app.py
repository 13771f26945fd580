"""Starlette app: ``/api/health``, ``/api/status`` and ``/api/metrics`` over a running engine,
and the operator's ``POST /api/risk/kill_switch`` and ``POST /api/risk/reset``.

Every figure is read at request time from the engine (bus counters, feed counters) or
from the operating system through psutil; nothing is cached or made up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import psutil
import uvicorn
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from baconalgo.errors import BaconAlgoError

log = logging.getLogger(__name__)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# POST /api/risk/<name>: the engine's risk actions.
_RISK_ACTIONS = {"kill_switch": "kill_switch", "reset": "reset_risk"}


class StatusSource(Protocol):
    """What the server needs from an engine."""

    def health(self) -> dict[str, Any]: ...
    def status(self) -> dict[str, Any]: ...
    def risk_action(self, action: str, timeout: float = ..., **kw: Any) -> dict[str, Any]: ...


class _SystemSampler:
    """Process and host figures from psutil. CPU percentages are since the previous
    sample (psutil's own definition), so the first scrape reads 0."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.process.cpu_percent(None)
        psutil.cpu_percent(None)

    def sample(self) -> dict[str, float]:
        p = self.process
        with p.oneshot():
            mem = p.memory_info()
            cpu_times = p.cpu_times()
            figures = {
                "process_cpu_percent": p.cpu_percent(None),
                "process_cpu_seconds_total": cpu_times.user + cpu_times.system,
                "process_resident_memory_bytes": float(mem.rss),
                "process_virtual_memory_bytes": float(mem.vms),
                "process_threads": float(p.num_threads()),
                "process_open_fds": float(p.num_fds()) if hasattr(p, "num_fds") else 0.0,
            }
        vm = psutil.virtual_memory()
        net = psutil.net_io_counters()
        figures.update(
            {
                "system_cpu_percent": psutil.cpu_percent(None),
                "system_cpu_count": float(psutil.cpu_count() or 0),
                "system_memory_total_bytes": float(vm.total),
                "system_memory_available_bytes": float(vm.available),
                "system_network_sent_bytes_total": float(net.bytes_sent),
                "system_network_received_bytes_total": float(net.bytes_recv),
            }
        )
        return figures


def _metrics(source: StatusSource, system: _SystemSampler) -> dict[str, Any]:
    status = source.status()
    bus = status["components"]["bus"]
    feed = status["components"]["feed"]
    return {
        "system": system.sample(),
        "uptime_seconds": status["uptime_seconds"],
        "bus": {
            "published_total": bus["published"],
            "producer_waits_total": bus["producer_waits"],
            "capacity": bus.get("capacity", 0),
            "consumers": {
                c["name"]: {
                    "consumed_total": c["sequence"],
                    "lag": c["lag"],
                    "alive": int(c["alive"]),
                    "handler_panics_total": c["handler_panics"],
                }
                for c in bus["consumers"]
            },
        },
        "feed": {
            "messages_total": feed["messages"],
            "events_total": feed["events"],
            "rejected_total": feed["rejected"],
        },
        "feed_rejected_by_reason": dict(feed.get("rejected_by_reason", {})),
        "adapter": {f"{k}_total": feed[k] for k in _ADAPTER_COUNTERS if k in feed},
        "paper": _paper_metrics(status["components"].get("paper")),
        "risk": _risk_metrics(status["components"].get("paper")),
    }


# The adapter's connection-health counters (status `components.feed`), as help texts.
_ADAPTER_COUNTERS = {
    "connects": "websocket connections opened",
    "reconnects": "reconnections after a drop",
    "proactive_reconnects": "connections renewed before the venue's limit",
    "handovers": "connections handed over to a new one without a gap",
    "handover_duplicates": "messages seen on both connections during a handover, dropped",
    "resyncs": "book resynchronisations (gap or checksum mismatch)",
    "gaps": "sequence gaps detected",
    "checksum_mismatches": "book checksums that did not match the venue's",
    "snapshots": "book snapshots applied",
    "venue_errors": "error replies from the venue",
    "keepalive_pings": "keepalive pings sent",
    "keepalive_timeouts": "connections dropped for a missed keepalive",
}

_TRADING_STATES = {"active": 0, "reducing": 1, "halted": 2}


def _risk_metrics(paper: dict[str, Any] | None) -> dict[str, Any]:
    """The paper session's risk engine: state, accepted, rejected by reason (empty
    without one)."""
    risk = (paper or {}).get("risk")
    if not risk:
        return {}
    return {
        "state": _TRADING_STATES[risk["state"]],
        "accepted_total": risk["accepted"],
        "rejected_total": dict(risk["rejected"]),
        "tripped_breakers": len(risk.get("tripped", [])),
    }


def _paper_metrics(paper: dict[str, Any] | None) -> dict[str, float]:
    """The paper session's account and order counters (empty before its first status)."""
    if not paper or "counters" not in paper:
        return {}
    c = paper["counters"]
    return {
        "position": paper["position"],
        "equity": paper["equity"],
        "realized_pnl": paper["realized_pnl"],
        "unrealized_pnl": paper["unrealized_pnl"],
        "fees_total": paper["fees"],
        "orders_total": c["orders"],
        "fills_total": c["fills"],
        "rejects_total": c["rejects"],
    }


class _EngineCollector:
    """Turns one metrics snapshot into Prometheus families at scrape time."""

    def __init__(self, source: StatusSource, system: _SystemSampler) -> None:
        self.source = source
        self.system = system

    def collect(self) -> Iterator[Metric]:
        m = _metrics(self.source, self.system)
        for name, value in m["system"].items():
            if name.endswith("_total"):
                c = CounterMetricFamily(f"baconalgo_{name[:-6]}", name.replace("_", " "))
                c.add_metric([], value)
                yield c
            else:
                yield GaugeMetricFamily(f"baconalgo_{name}", name.replace("_", " "), value=value)
        yield GaugeMetricFamily(
            "baconalgo_uptime_seconds", "engine uptime", value=m["uptime_seconds"]
        )
        bus = m["bus"]
        pub = CounterMetricFamily("baconalgo_bus_published", "events published on the bus")
        pub.add_metric([], bus["published_total"])
        yield pub
        waits = CounterMetricFamily(
            "baconalgo_bus_producer_waits", "claims that found the ring full and waited"
        )
        waits.add_metric([], bus["producer_waits_total"])
        yield waits
        yield GaugeMetricFamily("baconalgo_bus_capacity", "ring slots", value=bus["capacity"])
        consumed = CounterMetricFamily(
            "baconalgo_bus_consumed", "events processed per consumer", labels=["consumer"]
        )
        lag = GaugeMetricFamily(
            "baconalgo_bus_consumer_lag", "events published, not yet processed", labels=["consumer"]
        )
        alive = GaugeMetricFamily(
            "baconalgo_bus_consumer_alive", "1 if running", labels=["consumer"]
        )
        panics = CounterMetricFamily(
            "baconalgo_bus_handler_panics", "events a handler panicked on", labels=["consumer"]
        )
        for name, c in bus["consumers"].items():
            consumed.add_metric([name], c["consumed_total"])
            lag.add_metric([name], c["lag"])
            alive.add_metric([name], c["alive"])
            panics.add_metric([name], c["handler_panics_total"])
        yield from (consumed, lag, alive, panics)
        for key, help_text in (
            ("messages_total", "market data messages received"),
            ("events_total", "events decoded from market data"),
            ("rejected_total", "market data messages rejected"),
        ):
            f = CounterMetricFamily(f"baconalgo_feed_{key[:-6]}", help_text)
            f.add_metric([], m["feed"][key])
            yield f
        by_reason = CounterMetricFamily(
            "baconalgo_feed_rejected_by_reason",
            "market data messages rejected, by reason",
            labels=["reason"],
        )
        for reason, n in m["feed_rejected_by_reason"].items():
            by_reason.add_metric([reason], n)
        yield by_reason
        for key, value in m["adapter"].items():
            name = key.removesuffix("_total")
            f = CounterMetricFamily(f"baconalgo_adapter_{name}", _ADAPTER_COUNTERS[name])
            f.add_metric([], value)
            yield f
        yield from _risk_families(m["risk"])
        for name, value in m["paper"].items():
            help_text = f"paper trading: {name.removesuffix('_total').replace('_', ' ')}"
            if name.endswith("_total"):
                c = CounterMetricFamily(f"baconalgo_paper_{name[:-6]}", help_text)
                c.add_metric([], value)
                yield c
            else:
                yield GaugeMetricFamily(f"baconalgo_paper_{name}", help_text, value=value)


def _risk_families(risk: dict[str, Any]) -> Iterator[Metric]:
    if not risk:
        return
    yield GaugeMetricFamily(
        "baconalgo_risk_state",
        "trading state: 0 active, 1 reducing, 2 halted",
        value=risk["state"],
    )
    yield GaugeMetricFamily(
        "baconalgo_risk_tripped_breakers", "breakers tripped now", value=risk["tripped_breakers"]
    )
    accepted = CounterMetricFamily("baconalgo_risk_accepted", "orders the risk engine passed")
    accepted.add_metric([], risk["accepted_total"])
    yield accepted
    rejected = CounterMetricFamily(
        "baconalgo_risk_rejected", "orders the risk engine refused, by reason", labels=["reason"]
    )
    for reason, n in risk["rejected_total"].items():
        rejected.add_metric([reason], n)
    yield rejected


def _wants_json(request: Request) -> bool:
    if request.query_params.get("format") == "json":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/plain" not in accept


def create_app(source: StatusSource) -> Starlette:
    system = _SystemSampler()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_EngineCollector(source, system))

    async def health(request: Request) -> JSONResponse:
        h = source.health()
        return JSONResponse(h, status_code=200 if h["ready"] else 503)

    async def status(request: Request) -> JSONResponse:
        return JSONResponse(source.status())

    async def metrics(request: Request) -> Response:
        if _wants_json(request):
            return JSONResponse(_metrics(source, system))
        body = await asyncio.to_thread(generate_latest, registry)
        return Response(body, media_type=PROMETHEUS_CONTENT_TYPE)

    async def risk_action(request: Request) -> JSONResponse:
        action = _RISK_ACTIONS.get(request.path_params["action"])
        if action is None:
            return JSONResponse(
                {"error": f"unknown risk action; POST one of {sorted(_RISK_ACTIONS)}"},
                status_code=404,
            )
        rebase_peak = request.query_params.get("rebase_peak", "false").lower() in ("1", "true")
        kw = {"rebase_peak": rebase_peak} if action == "reset_risk" else {}
        try:
            out = await asyncio.to_thread(source.risk_action, action, **kw)
        except LookupError as e:
            return JSONResponse({"error": str(e)}, status_code=404)
        except (BaconAlgoError, RuntimeError, TimeoutError) as e:
            # Refused (no risk engine, a breaker's condition still holds, session over).
            body: dict[str, Any] = {"error": str(e), "type": type(e).__name__}
            reasons = getattr(e, "reasons", None)
            if reasons is not None:
                body["reasons"] = list(reasons)
            return JSONResponse(body, status_code=409)
        log.warning("operator risk action", extra={"action": action, **out})
        return JSONResponse(out)

    return Starlette(
        routes=[
            Route("/api/health", health),
            Route("/api/status", status),
            Route("/api/metrics", metrics),
            # The operator's kill switch and the way back to ACTIVE (POST: they act).
            Route("/api/risk/{action:str}", risk_action, methods=["POST"]),
        ]
    )


@dataclass
class RunningServer:
    """A uvicorn server running in the current event loop."""

    server: uvicorn.Server
    task: asyncio.Task[None]
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


async def serve(source: StatusSource, host: str, port: int) -> RunningServer:
    """Starts uvicorn for ``source`` in the running loop and returns once it listens
    (``port=0`` picks a free port; the returned ``port`` is the real one)."""
    config = uvicorn.Config(create_app(source), host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError(f"metrics server did not start on {host}:{port}")
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return RunningServer(server=server, task=task, host=host, port=int(bound))
