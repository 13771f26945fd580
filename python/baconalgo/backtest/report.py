"""A self-contained HTML report of a backtest: the metrics, equity and drawdown charts
(plotly, its JavaScript embedded from the installed package: no network, no CDN), and the
trades."""

from __future__ import annotations

import html
import math
from pathlib import Path

from baconalgo.backtest.result import BacktestResult


def _fmt(name: str, value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if name in ("total_return", "cagr", "max_drawdown", "win_rate", "exposure"):
        return f"{value * 100:.2f}%"
    if name == "closed_trades":
        return f"{int(value)}"
    return f"{value:.4f}"


def write_report(result: BacktestResult, path: str | Path, title: str = "Backtest") -> Path:
    """Writes the report to ``path`` and returns it."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    e = result.equity
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.7, 0.3],
        vertical_spacing=0.04,
        subplot_titles=("Equity", "Drawdown"),
    )
    # Thousands of points per line are plenty for a screen; the tables keep every bar.
    step = max(1, e.height // 20_000)
    shown = e.gather_every(step)
    fig.add_trace(
        go.Scattergl(
            x=shown["ts"].to_list(), y=shown["equity"].to_list(), name="equity", line={"width": 1}
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scattergl(
            x=shown["ts"].to_list(),
            y=(-shown["drawdown"]).to_list(),
            name="drawdown",
            fill="tozeroy",
            line={"width": 1, "color": "#c0392b"},
        ),
        row=2,
        col=1,
    )
    fig.update_yaxes(tickformat=".1%", row=2, col=1)
    fig.update_layout(height=700, showlegend=False, margin={"l": 60, "r": 20, "t": 40, "b": 40})
    chart = fig.to_html(full_html=False, include_plotlyjs=True)
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{_fmt(k, v)}</td></tr>"
        for k, v in result.metrics.items()
    )
    trades = result.trades.head(500)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in trades.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in trades.iter_rows()
    )
    summary = html.escape(result.summary())
    doc = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}</style></head>
<body><h1>{html.escape(title)}</h1><pre>{summary}</pre>
<h2>Metrics</h2><table>{rows}</table>
{chart}
<h2>Trades (first {trades.height} of {result.trades.height})</h2>
<table><tr>{head}</tr>{body}</table></body></html>
"""
    out = Path(path)
    out.write_text(doc, encoding="utf-8")
    return out


__all__ = ["write_report"]
