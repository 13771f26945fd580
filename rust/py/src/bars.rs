//! `baconalgo._core` bar functions: trade columns in, bar columns out; live bars from
//! trade events as bar event runs.

use std::sync::Mutex;

use baconalgo_core::bars::{
    build_bars, build_quote_bars, resample_bars, BarSpec, BarsError, InstrumentBars, QuotePrice,
};
use baconalgo_core::model::{flags, Bar, Event};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::event::{as_events, PyEvent};

fn bars_err(e: BarsError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Exactly one of the ways to close a bar, from keyword arguments.
fn spec(
    every_ns: Option<u64>,
    offset_ns: u64,
    trades: Option<u64>,
    volume_lots: Option<i64>,
    notional: Option<i128>,
) -> PyResult<BarSpec> {
    let spec = match (every_ns, trades, volume_lots, notional) {
        (Some(every_ns), None, None, None) => BarSpec::Time { every_ns, offset_ns },
        (None, Some(trades), None, None) => BarSpec::Tick { trades },
        (None, None, Some(lots), None) => BarSpec::Volume { lots },
        (None, None, None, Some(notional)) => BarSpec::Dollar { notional },
        _ => {
            return Err(PyValueError::new_err(
                "give exactly one of every_ns (time bars), trades (tick bars), volume_lots (volume bars) or notional (dollar bars)",
            ))
        }
    };
    spec.validate().map_err(bars_err)
}

fn slice<'a, T: numpy::Element>(a: &'a PyReadonlyArray1<'_, T>, name: &str) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be C-contiguous")))
}

/// Bars as columns: a dict of numpy arrays.
fn columns<'py>(py: Python<'py>, bars: &[Bar]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let col_u = |f: fn(&Bar) -> u64| bars.iter().map(f).collect::<Vec<u64>>().into_pyarray(py);
    let col_i = |f: fn(&Bar) -> i64| bars.iter().map(f).collect::<Vec<i64>>().into_pyarray(py);
    d.set_item("ts_open_ns", col_u(|b| b.ts_open_ns))?;
    d.set_item("ts_close_ns", col_u(|b| b.ts_close_ns))?;
    d.set_item("open", col_i(|b| b.open_ticks))?;
    d.set_item("high", col_i(|b| b.high_ticks))?;
    d.set_item("low", col_i(|b| b.low_ticks))?;
    d.set_item("close", col_i(|b| b.close_ticks))?;
    d.set_item("volume", col_i(|b| b.volume_lots))?;
    d.set_item("trades", col_u(|b| b.trades))?;
    d.set_item(
        "closed",
        bars.iter()
            .map(|b| b.closed)
            .collect::<Vec<bool>>()
            .into_pyarray(py),
    )?;
    Ok(d)
}

fn run_events<'py>(
    py: Python<'py>,
    bars: &[Bar],
    ts_recv_ns: u64,
    extra_flags: u8,
) -> Bound<'py, PyArray1<PyEvent>> {
    let events: Vec<PyEvent> = bars
        .iter()
        .flat_map(|b| b.to_events(ts_recv_ns))
        .map(|mut e| {
            e.flags |= extra_flags;
            PyEvent(e)
        })
        .collect();
    PyArray1::from_vec(py, events)
}

/// Bars of one instrument from time-ordered trade columns (prices in ticks, quantities
/// in lots). Returns columns; the last bar has `closed` False when incomplete.
#[pyfunction]
#[pyo3(signature = (ts_ns, price_ticks, qty_lots, *, every_ns = None, offset_ns = 0, trades = None, volume_lots = None, notional = None))]
#[allow(clippy::too_many_arguments)]
fn build<'py>(
    py: Python<'py>,
    ts_ns: PyReadonlyArray1<'py, u64>,
    price_ticks: PyReadonlyArray1<'py, i64>,
    qty_lots: PyReadonlyArray1<'py, i64>,
    every_ns: Option<u64>,
    offset_ns: u64,
    trades: Option<u64>,
    volume_lots: Option<i64>,
    notional: Option<i128>,
) -> PyResult<Bound<'py, PyDict>> {
    let spec = spec(every_ns, offset_ns, trades, volume_lots, notional)?;
    let (ts, px, qty) = (
        slice(&ts_ns, "ts_ns")?,
        slice(&price_ticks, "price_ticks")?,
        slice(&qty_lots, "qty_lots")?,
    );
    let bars = py
        .detach(|| build_bars(spec, ts, px, qty))
        .map_err(bars_err)?;
    columns(py, &bars)
}

fn quote_price(price: &str) -> PyResult<QuotePrice> {
    match price {
        "mid" => Ok(QuotePrice::Mid),
        "bid" => Ok(QuotePrice::Bid),
        "ask" => Ok(QuotePrice::Ask),
        other => Err(PyValueError::new_err(format!(
            "price must be 'mid', 'bid' or 'ask', got {other:?}"
        ))),
    }
}

/// Time bars from time-ordered quotes; `price` is "mid" (prices in half ticks), "bid" or
/// "ask". Columns as `build`, with `trades` counting quotes.
#[pyfunction]
#[pyo3(signature = (ts_ns, bid_ticks, ask_ticks, *, every_ns, offset_ns = 0, price = "mid"))]
fn build_quotes<'py>(
    py: Python<'py>,
    ts_ns: PyReadonlyArray1<'py, u64>,
    bid_ticks: PyReadonlyArray1<'py, i64>,
    ask_ticks: PyReadonlyArray1<'py, i64>,
    every_ns: u64,
    offset_ns: u64,
    price: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let price = quote_price(price)?;
    let (ts, bid, ask) = (
        slice(&ts_ns, "ts_ns")?,
        slice(&bid_ticks, "bid_ticks")?,
        slice(&ask_ticks, "ask_ticks")?,
    );
    let bars = py
        .detach(|| build_quote_bars(every_ns, offset_ns, ts, bid, ask, price))
        .map_err(bars_err)?;
    columns(py, &bars)
}

/// Higher-timeframe bars from time-ordered lower ones, given as columns.
#[pyfunction]
#[pyo3(signature = (ts_open_ns, open, high, low, close, volume, *, every_ns, offset_ns = 0, trades = None))]
#[allow(clippy::too_many_arguments)]
fn resample<'py>(
    py: Python<'py>,
    ts_open_ns: PyReadonlyArray1<'py, u64>,
    open: PyReadonlyArray1<'py, i64>,
    high: PyReadonlyArray1<'py, i64>,
    low: PyReadonlyArray1<'py, i64>,
    close: PyReadonlyArray1<'py, i64>,
    volume: PyReadonlyArray1<'py, i64>,
    every_ns: u64,
    offset_ns: u64,
    trades: Option<PyReadonlyArray1<'py, u64>>,
) -> PyResult<Bound<'py, PyDict>> {
    let ts = slice(&ts_open_ns, "ts_open_ns")?;
    let cols = [
        slice(&open, "open")?,
        slice(&high, "high")?,
        slice(&low, "low")?,
        slice(&close, "close")?,
        slice(&volume, "volume")?,
    ];
    let counts = match &trades {
        Some(t) => Some(slice(t, "trades")?),
        None => None,
    };
    if cols.iter().any(|c| c.len() != ts.len()) || counts.is_some_and(|c| c.len() != ts.len()) {
        return Err(PyValueError::new_err(
            "ts_open_ns and every bar column must have the same length",
        ));
    }
    let bars: Vec<Bar> = (0..ts.len())
        .map(|i| Bar {
            ts_open_ns: ts[i],
            open_ticks: cols[0][i],
            high_ticks: cols[1][i],
            low_ticks: cols[2][i],
            close_ticks: cols[3][i],
            volume_lots: cols[4][i],
            trades: counts.map_or(0, |c| c[i]),
            closed: true,
            ..Bar::default()
        })
        .collect();
    let out = py
        .detach(|| resample_bars(&bars, every_ns, offset_ns))
        .map_err(bars_err)?;
    columns(py, &out)
}

/// Live bars for every instrument from trade or quote events; returns closed bars as bar
/// event runs (`EVENT_DTYPE`, four events a bar) ready to publish.
#[pyclass(module = "baconalgo._core", name = "LiveBars")]
pub struct PyLiveBars {
    inner: Mutex<InstrumentBars>,
    /// `flags::HALF_TICKS` on every run of quote-mid bars.
    flags: u8,
}

#[pymethods]
impl PyLiveBars {
    /// `quotes`: time bars of quote events following their "mid", "bid" or "ask"
    /// instead of trades (mid bars carry half ticks and the HALF_TICKS flag).
    #[new]
    #[pyo3(signature = (*, every_ns = None, offset_ns = 0, trades = None, volume_lots = None, notional = None, quotes = None))]
    fn new(
        every_ns: Option<u64>,
        offset_ns: u64,
        trades: Option<u64>,
        volume_lots: Option<i64>,
        notional: Option<i128>,
        quotes: Option<&str>,
    ) -> PyResult<Self> {
        let spec = spec(every_ns, offset_ns, trades, volume_lots, notional)?;
        let inner =
            match (quotes, spec) {
                (None, _) => InstrumentBars::new(spec),
                (
                    Some(q),
                    BarSpec::Time {
                        every_ns,
                        offset_ns,
                    },
                ) => InstrumentBars::from_quotes(every_ns, offset_ns, quote_price(q)?),
                (Some(_), _) => return Err(PyValueError::new_err(
                    "bars of quotes are time bars: give every_ns, not trades/volume_lots/notional",
                )),
            }
            .map_err(bars_err)?;
        let flags = if inner.half_ticks() {
            flags::HALF_TICKS
        } else {
            0
        };
        Ok(PyLiveBars {
            inner: Mutex::new(inner),
            flags,
        })
    }

    /// Quotes left out because they were crossed (ask below bid).
    #[getter]
    fn skipped_quotes(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .skipped_quotes()
    }

    /// Feeds a batch of events (trades, or quotes for quote bars; others are ignored);
    /// returns the bars closed.
    #[pyo3(signature = (events, ts_recv_ns = 0))]
    fn on_events<'py>(
        &self,
        py: Python<'py>,
        events: PyReadonlyArray1<'py, PyEvent>,
        ts_recv_ns: u64,
    ) -> PyResult<Bound<'py, PyArray1<PyEvent>>> {
        let input: &[Event] = as_events(slice(&events, "events")?);
        let mut closed = Vec::new();
        // A batch can be large; the builders need no Python, so let other threads run.
        py.detach(|| {
            self.inner
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .on_events(input, &mut closed)
        });
        Ok(run_events(py, &closed, ts_recv_ns, self.flags))
    }

    /// Closes every time bar whose window ended by `now_ns`.
    #[pyo3(signature = (now_ns, ts_recv_ns = 0))]
    fn close_until<'py>(
        &self,
        py: Python<'py>,
        now_ns: u64,
        ts_recv_ns: u64,
    ) -> Bound<'py, PyArray1<PyEvent>> {
        let mut closed = Vec::new();
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .close_until(now_ns, &mut closed);
        run_events(py, &closed, ts_recv_ns, self.flags)
    }

    /// The bars still open, one per instrument, as event runs (not marked final).
    fn partial<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<PyEvent>> {
        let partial = self
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .partial();
        run_events(py, &partial, 0, self.flags)
    }
}

/// Bar event runs (`EVENT_DTYPE`) back to bar columns.
#[pyfunction]
fn from_events<'py>(
    py: Python<'py>,
    events: PyReadonlyArray1<'py, PyEvent>,
) -> PyResult<Bound<'py, PyDict>> {
    let input: &[Event] = as_events(slice(&events, "events")?);
    if input.len() % 4 != 0 {
        return Err(PyValueError::new_err(format!(
            "bar runs are 4 events each; got {} events",
            input.len()
        )));
    }
    let bars = input
        .chunks(4)
        .enumerate()
        .map(|(i, run)| {
            Bar::from_events(run).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "events[{}..{}] are not one bar's run",
                    4 * i,
                    4 * i + 4
                ))
            })
        })
        .collect::<PyResult<Vec<Bar>>>()?;
    let d = columns(py, &bars)?;
    let half: Vec<bool> = input
        .chunks(4)
        .map(|run| run[0].flags & flags::HALF_TICKS != 0)
        .collect();
    d.set_item("half_ticks", half.into_pyarray(py))?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let bars = PyModule::new(m.py(), "bars")?;
    bars.add_function(wrap_pyfunction!(build, &bars)?)?;
    bars.add_function(wrap_pyfunction!(build_quotes, &bars)?)?;
    bars.add_function(wrap_pyfunction!(resample, &bars)?)?;
    bars.add_function(wrap_pyfunction!(from_events, &bars)?)?;
    bars.add_class::<PyLiveBars>()?;
    m.add_submodule(&bars)?;
    Ok(())
}
