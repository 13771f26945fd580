//! `baconalgo._core.BinanceDecoder`: exchange bytes in, `EVENT_DTYPE` arrays out.

use std::sync::{Arc, Mutex};

use baconalgo_core::feed::{BinanceDecoder, BinanceMarket, FeedError as CoreFeedError};
use baconalgo_core::model::{time::now_ns, Event, Instrument, InstrumentTable};
use numpy::PyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::FeedError;
use crate::event::PyEvent;

fn feed_err(e: CoreFeedError) -> PyErr {
    FeedError::new_err(e.to_string())
}

struct DecoderState {
    decoder: BinanceDecoder,
    scratch: Vec<Event>,
}

#[pyclass(module = "baconalgo._core", name = "BinanceDecoder")]
pub struct PyBinanceDecoder {
    state: Mutex<DecoderState>,
    instruments: Arc<InstrumentTable>,
    venue: u8,
}

impl PyBinanceDecoder {
    fn run<'py>(
        &self,
        py: Python<'py>,
        f: impl FnOnce(&mut BinanceDecoder, &mut Vec<Event>) -> Result<(), CoreFeedError>,
    ) -> PyResult<Bound<'py, PyArray1<PyEvent>>> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let DecoderState { decoder, scratch } = &mut *state;
        scratch.clear();
        f(decoder, scratch).map_err(feed_err)?;
        let events: Vec<PyEvent> = scratch.iter().copied().map(PyEvent).collect();
        Ok(PyArray1::from_vec(py, events))
    }
}

#[pymethods]
impl PyBinanceDecoder {
    /// `market` is "spot" or "usdm"; `instruments` a list of `(symbol, tick, lot)` with
    /// tick and lot as decimal strings, e.g. `("BTCUSDT", "0.01", "0.00000001")`.
    #[new]
    #[pyo3(signature = (market, instruments, venue = 0))]
    fn new(market: &str, instruments: Vec<(String, String, String)>, venue: u8) -> PyResult<Self> {
        let market = match market {
            "spot" => BinanceMarket::Spot,
            "usdm" => BinanceMarket::UsdM,
            other => {
                return Err(PyValueError::new_err(format!(
                    "market must be 'spot' or 'usdm', got {other:?}"
                )))
            }
        };
        let mut table = InstrumentTable::new();
        for (symbol, tick, lot) in &instruments {
            let inst = Instrument::new(symbol, venue, tick, lot).map_err(|e| {
                PyValueError::new_err(format!(
                    "instrument {symbol:?} (tick {tick:?}, lot {lot:?}): {e}"
                ))
            })?;
            table
                .insert(inst)
                .map_err(|e| PyValueError::new_err(format!("instrument {symbol:?}: {e}")))?;
        }
        let instruments = Arc::new(table);
        Ok(PyBinanceDecoder {
            state: Mutex::new(DecoderState {
                decoder: BinanceDecoder::new(market, venue, instruments.clone()),
                scratch: Vec::with_capacity(1024),
            }),
            instruments,
            venue,
        })
    }

    /// Decodes one websocket message into events; raises `FeedError` (and counts it) when
    /// the message is malformed. `ts_recv_ns` defaults to now.
    #[pyo3(signature = (data, ts_recv_ns = None))]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        data: &[u8],
        ts_recv_ns: Option<u64>,
    ) -> PyResult<Bound<'py, PyArray1<PyEvent>>> {
        let ts = ts_recv_ns.unwrap_or_else(now_ns);
        self.run(py, |d, out| d.decode(data, ts, out).map(|_| ()))
    }

    /// Decodes a REST depth snapshot for `symbol` into snapshot events.
    #[pyo3(signature = (symbol, data, ts_recv_ns = None))]
    fn decode_snapshot<'py>(
        &self,
        py: Python<'py>,
        symbol: &str,
        data: &[u8],
        ts_recv_ns: Option<u64>,
    ) -> PyResult<Bound<'py, PyArray1<PyEvent>>> {
        let ts = ts_recv_ns.unwrap_or_else(now_ns);
        self.run(py, |d, out| {
            d.decode_depth_snapshot(symbol, data, ts, out).map(|_| ())
        })
    }

    /// The index events carry in `instrument` for `symbol`, or None.
    fn instrument_index(&self, symbol: &str) -> Option<u32> {
        self.instruments.index_of(self.venue, symbol)
    }

    /// `(symbol, tick, lot)` of instrument `index`.
    fn instrument(&self, index: u32) -> PyResult<(String, String, String)> {
        let i = self
            .instruments
            .get(index)
            .ok_or_else(|| PyValueError::new_err(format!("no instrument with index {index}")))?;
        Ok((
            i.symbol.clone(),
            i.tick.format_steps(1),
            i.lot.format_steps(1),
        ))
    }

    /// Price in ticks of instrument `index` as a decimal string, exactly.
    fn format_price(&self, index: u32, price_ticks: i64) -> PyResult<String> {
        let i = self
            .instruments
            .get(index)
            .ok_or_else(|| PyValueError::new_err(format!("no instrument with index {index}")))?;
        Ok(i.format_price(price_ticks))
    }

    /// Decoded and rejected message counts, by reason.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let c = state.decoder.counters();
        let d = PyDict::new(py);
        d.set_item("decoded", c.decoded)?;
        d.set_item("control", c.control)?;
        d.set_item("rejected", c.rejected())?;
        d.set_item("malformed_json", c.malformed_json)?;
        d.set_item("bad_field", c.bad_field)?;
        d.set_item("negative_quantity", c.negative_quantity)?;
        d.set_item("bad_decimal", c.bad_decimal)?;
        d.set_item("unknown_symbol", c.unknown_symbol)?;
        d.set_item("unsupported", c.unsupported)?;
        Ok(d)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBinanceDecoder>()
}
