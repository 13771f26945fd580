//! `baconalgo._core.SignalEngine`: multi-timeframe rules fused into signals, evaluated in
//! Rust on trade events (rule text is parsed in `baconalgo.signal`); `SignalFired`, one
//! firing as the brokers hand it to a strategy's `on_signal`.

use std::sync::Mutex;

use baconalgo_core::model::{Event, Side};
use baconalgo_core::signal::{
    Fusion, Operand, Rule, Series, SignalEngine, SignalError, SignalSpec, Source, SUMMARY_AUX,
};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::event::{as_events, PyEvent};
use crate::scan::comparison;

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

/// Rules as `baconalgo.signal.parse_rule` gives them: (left, op, right series or None,
/// right constant, weight).
pub(crate) type RuleSpec = (SeriesSpec, String, Option<SeriesSpec>, f64, f64);

/// A signal engine from its parsed definition (errors are `ValueError`s naming the rule).
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_engine(
    rules: &[RuleSpec],
    fusion: &str,
    min_votes: usize,
    threshold: f64,
    side: u8,
    price_scale: f64,
    signal_id: u64,
    names: &[String],
) -> PyResult<SignalEngine> {
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
                op: comparison(op)?,
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
    SignalEngine::new(spec).map_err(|e| signal_err(e, names))
}

/// A signal's definition as `baconalgo.signal.Signal.definition()` gives it: parsed rules,
/// fusion, min_votes, threshold, side code, signal id and the rule texts.
#[derive(FromPyObject)]
pub(crate) struct SignalDefinition(Vec<RuleSpec>, String, usize, f64, u8, u64, Vec<String>);

impl SignalDefinition {
    /// Its engine with prices at `price_scale` (errors name the rule).
    pub(crate) fn engine(&self, price_scale: f64) -> PyResult<SignalEngine> {
        let SignalDefinition(rules, fusion, votes, threshold, side, id, names) = self;
        build_engine(
            rules,
            fusion,
            *votes,
            *threshold,
            *side,
            price_scale,
            *id,
            names,
        )
    }

    pub(crate) fn names(&self) -> &[String] {
        &self.6
    }
}

/// A core signal error as a `ValueError`, with the text of the rule at fault when known.
pub(crate) fn signal_err(e: SignalError, names: &[String]) -> PyErr {
    match e.rule().and_then(|i| names.get(i)) {
        Some(name) => PyValueError::new_err(format!("{e} (rule {name:?})")),
        None => PyValueError::new_err(e.to_string()),
    }
}

/// One signal firing as a strategy's `on_signal` receives it.
#[pyclass(module = "baconalgo._core", name = "SignalFired", frozen)]
pub struct PySignalFired {
    /// End of the bar window whose close made the signal true (ns since the epoch).
    #[pyo3(get)]
    ts_ns: u64,
    #[pyo3(get)]
    instrument: u32,
    #[pyo3(get)]
    signal_id: u64,
    /// The side the signal suggests: "buy", "sell" or "none".
    #[pyo3(get)]
    side: &'static str,
    /// The confluence score: weight of the rules that hold over all weight.
    #[pyo3(get)]
    score: f64,
    #[pyo3(get)]
    rules_true: i64,
    /// The price of the trade (or the close of the bar) that fired it.
    #[pyo3(get)]
    price: f64,
    rules: Vec<(bool, f64, f64)>,
}

#[pymethods]
impl PySignalFired {
    /// Each rule's (holds, left value, right value), in the signal's rule order.
    #[getter]
    fn rules(&self) -> Vec<(bool, f64, f64)> {
        self.rules.clone()
    }

    fn __repr__(&self) -> String {
        let py_bool = |b: bool| if b { "True" } else { "False" };
        let rules: Vec<String> = self
            .rules
            .iter()
            .map(|(h, l, r)| format!("({}, {l}, {r})", py_bool(*h)))
            .collect();
        format!(
            "SignalFired(ts_ns={}, instrument={}, signal_id={}, side='{}', score={}, price={}, rules=[{}])",
            self.ts_ns,
            self.instrument,
            self.signal_id,
            self.side,
            self.score,
            self.price,
            rules.join(", ")
        )
    }
}

/// The firings in `runs` (signal runs as the engine appends them), prices at `tick_size`.
pub(crate) fn firings(runs: &[Event], tick_size: f64) -> Vec<PySignalFired> {
    let mut out = Vec::new();
    let mut rules = Vec::new();
    for e in runs {
        if e.aux != SUMMARY_AUX {
            rules.push((
                e.side == Side::Buy as u8,
                f64::from_bits(e.id),
                f64::from_bits(e.qty_lots as u64),
            ));
            continue;
        }
        out.push(PySignalFired {
            ts_ns: e.ts_event_ns,
            instrument: e.instrument,
            signal_id: e.seq,
            side: match e.side {
                s if s == Side::Buy as u8 => "buy",
                s if s == Side::Sell as u8 => "sell",
                _ => "none",
            },
            score: f64::from_bits(e.id),
            rules_true: e.qty_lots,
            price: e.price_ticks as f64 * tick_size,
            rules: std::mem::take(&mut rules),
        });
    }
    out
}

/// Calls `on_signal` with each firing of `runs`.
pub(crate) fn deliver(
    py: Python<'_>,
    runs: &[Event],
    tick_size: f64,
    on_signal: &Bound<'_, PyAny>,
) -> PyResult<()> {
    for f in firings(runs, tick_size) {
        on_signal.call1((Bound::new(py, f)?,))?;
    }
    Ok(())
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
        rules: Vec<RuleSpec>,
        fusion: &str,
        min_votes: usize,
        threshold: f64,
        side: u8,
        price_scale: f64,
        signal_id: u64,
    ) -> PyResult<Self> {
        let engine = build_engine(
            &rules,
            fusion,
            min_votes,
            threshold,
            side,
            price_scale,
            signal_id,
            &[],
        )?;
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
    m.add_class::<PySignalFired>()?;
    m.add("SIGNAL_SUMMARY_AUX", baconalgo_core::signal::SUMMARY_AUX)?;
    Ok(())
}
