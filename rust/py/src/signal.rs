//! `baconalgo._core.SignalEngine`: multi-timeframe rules fused into signals, evaluated in
//! Rust on trade events (rule text is parsed in `baconalgo.signal`).

use std::sync::Mutex;

use baconalgo_core::model::{Event, Side};
use baconalgo_core::signal::{Fusion, Op, Operand, Rule, Series, SignalEngine, SignalSpec, Source};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::event::{as_events, PyEvent};

fn source(kind: &str, period: usize) -> PyResult<Source> {
    Ok(match kind {
        "CLOSE" => Source::Close,
        "SMA" => Source::Sma(period),
        "EMA" => Source::Ema(period),
        "WMA" => Source::Wma(period),
        "RSI" => Source::Rsi(period),
        "ROC" => Source::Roc(period),
        "MOM" => Source::Mom(period),
        "ATR" => Source::Atr(period),
        "NATR" => Source::Natr(period),
        "ADX" => Source::Adx(period),
        "CCI" => Source::Cci(period),
        "WILLR" => Source::Willr(period),
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown signal indicator {other:?}"
            )))
        }
    })
}

/// (kind, period, timeframe_ns) of one side of a rule.
type SeriesSpec = (String, usize, u64);

#[pyclass(module = "baconalgo._core", name = "SignalEngine")]
pub struct PySignalEngine {
    inner: Mutex<SignalEngine>,
}

#[pymethods]
impl PySignalEngine {
    /// `rules`: (left, op, right series or None, right constant, weight) with series as
    /// (kind, period, timeframe_ns); `fusion`: "all", "any", "votes" (with `min_votes`)
    /// or "weighted" (with `threshold`).
    #[new]
    #[pyo3(signature = (rules, fusion = "all", min_votes = 1, threshold = 1.0, side = 1, price_scale = 1.0, signal_id = 0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        rules: Vec<(SeriesSpec, String, Option<SeriesSpec>, f64, f64)>,
        fusion: &str,
        min_votes: usize,
        threshold: f64,
        side: u8,
        price_scale: f64,
        signal_id: u64,
    ) -> PyResult<Self> {
        let series = |(kind, period, tf): &SeriesSpec| -> PyResult<Series> {
            Ok(Series {
                source: source(kind, *period)?,
                timeframe_ns: *tf,
            })
        };
        let rules = rules
            .iter()
            .map(|(left, op, right, value, weight)| {
                Ok(Rule {
                    left: series(left)?,
                    op: match op.as_str() {
                        "<" => Op::Lt,
                        "<=" => Op::Le,
                        ">" => Op::Gt,
                        ">=" => Op::Ge,
                        other => {
                            return Err(PyValueError::new_err(format!(
                                "unknown comparison {other:?}"
                            )))
                        }
                    },
                    right: match right {
                        Some(r) => Operand::Series(series(r)?),
                        None => Operand::Value(*value),
                    },
                    weight: *weight,
                })
            })
            .collect::<PyResult<Vec<Rule>>>()?;
        let fusion = match fusion {
            "all" => Fusion::All,
            "any" => Fusion::Any,
            "votes" => Fusion::Votes(min_votes),
            "weighted" => Fusion::Weighted(threshold),
            other => {
                return Err(PyValueError::new_err(format!(
                    "fusion must be 'all', 'any', 'votes' or 'weighted', got {other:?}"
                )))
            }
        };
        let side = match side {
            0 => Side::None,
            1 => Side::Buy,
            2 => Side::Sell,
            other => {
                return Err(PyValueError::new_err(format!(
                    "side must be 0, 1 or 2, got {other}"
                )))
            }
        };
        let spec = SignalSpec {
            signal_id,
            rules,
            fusion,
            side,
            price_scale,
        };
        let engine = SignalEngine::new(spec).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(PySignalEngine {
            inner: Mutex::new(engine),
        })
    }

    /// Feeds a batch of events (trades are used); returns the signal runs fired.
    fn on_events<'py>(
        &self,
        py: Python<'py>,
        events: PyReadonlyArray1<'py, PyEvent>,
    ) -> PyResult<Bound<'py, PyArray1<PyEvent>>> {
        let input: &[Event] = as_events(
            events
                .as_slice()
                .map_err(|_| PyValueError::new_err("events must be C-contiguous"))?,
        );
        let mut out = Vec::new();
        py.detach(|| {
            let mut engine = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            engine.on_events(input, &mut out)
        });
        Ok(PyArray1::from_vec(
            py,
            out.into_iter().map(PyEvent).collect(),
        ))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySignalEngine>()?;
    m.add("SIGNAL_SUMMARY_AUX", baconalgo_core::signal::SUMMARY_AUX)?;
    Ok(())
}
