"""The HTTP face of a running engine: health, status and Prometheus metrics."""

from baconalgo.server.app import RunningServer, StatusSource, create_app, serve

__all__ = ["RunningServer", "StatusSource", "create_app", "serve"]
