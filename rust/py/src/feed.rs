//! The exchange decoders for Python (`BinanceDecoder`, `OkxDecoder`, `KrakenDecoder`,
//! `CoinbaseDecoder`): exchange bytes in, `EVENT_DTYPE` arrays out, `FeedError` raised and
//! counted by reason.

use std::sync::{Arc, Mutex, MutexGuard};

use baconalgo_core::feed::{
    BinanceDecoder, BinanceMarket, CoinbaseDecoder, DecodeCounters, Decoded,
    FeedError as CoreFeedError, KrakenDecoder, OkxDecoder,
};
use baconalgo_core::model::{time::now_ns, Event, Instrument, InstrumentTable};
use numpy::PyArray1;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::errors::FeedError;
use crate::event::PyEvent;

fn feed_err(e: CoreFeedError) -> PyErr {
    FeedError::new_err(e.to_string())
}

/// What every core decoder offers, so one generic body serves the four Python classes.
pub trait Decode: Send {
    fn decode_into(
        &mut self,
        bytes: &[u8],
        ts_recv_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<Decoded, CoreFeedError>;
    fn decode_counters(&self) -> &DecodeCounters;
}

macro_rules! impl_decode {
    ($($t:ty),*) => {$(
        impl Decode for $t {
            fn decode_into(
                &mut self,
                bytes: &[u8],
                ts_recv_ns: u64,
                out: &mut Vec<Event>,
            ) -> Result<Decoded, CoreFeedError> {
                self.decode(bytes, ts_recv_ns, out)
            }
            fn decode_counters(&self) -> &DecodeCounters {
                self.counters()
            }
        }
    )*};
}
impl_decode!(BinanceDecoder, OkxDecoder, KrakenDecoder, CoinbaseDecoder);

/// `(symbol, tick, lot)` tuples as an instrument table, or a ValueError naming the entry.
pub fn instrument_table(
    venue: u8,
    instruments: &[(String, String, String)],
) -> PyResult<InstrumentTable> {
    let mut table = InstrumentTable::new();
    for (symbol, tick, lot) in instruments {
        let inst = Instrument::new(symbol, venue, tick, lot).map_err(|e| {
            PyValueError::new_err(format!(
                "instrument {symbol:?} (tick {tick:?}, lot {lot:?}): {e}"
            ))
        })?;
        table
            .insert(inst)
            .map_err(|e| PyValueError::new_err(format!("instrument {symbol:?}: {e}")))?;
    }
    Ok(table)
}

/// A decoder, its scratch output and its instrument table, shared by the four classes.
pub struct DecoderCore<D> {
    state: Mutex<(D, Vec<Event>)>,
    instruments: Arc<InstrumentTable>,
    venue: u8,
}

impl<D: Decode> DecoderCore<D> {
    fn new(decoder: D, instruments: Arc<InstrumentTable>, venue: u8) -> Self {
        DecoderCore {
            state: Mutex::new((decoder, Vec::with_capacity(1024))),
            instruments,
            venue,
        }
    }

    fn lock(&self) -> MutexGuard<'_, (D, Vec<Event>)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the decoder with a cleared scratch vector, returning the scratch as a
    /// new `EVENT_DTYPE` array.
    fn run<'py>(
        &self,
        py: Python<'py>,
        f: impl FnOnce(&mut D, &mut Vec<Event>) -> Result<(), CoreFeedError>,
    ) -> PyResult<Bound<'py, PyArray1<PyEvent>>> {
        let mut state = self.lock();
        let (decoder, scratch) = &mut *state;
        scratch.clear();
        f(decoder, scratch).map_err(feed_err)?;
        Ok(events_to_array(py, scratch))
    }

    fn decode<'py>(
        &self,
        py: Python<'py>,
        data: &[u8],
        ts_recv_ns: Option<u64>,
    ) -> PyResult<Bound<'py, PyArray1<PyEvent>>> {
        let ts = ts_recv_ns.unwrap_or_else(now_ns);
        self.run(py, |d, out| d.decode_into(data, ts, out).map(|_| ()))
    }

    /// Decodes many messages with the GIL released; rejected messages are counted and
    /// skipped (their reasons are in `counters()`), never stopping the batch.
    fn decode_many<'py>(
        &self,
        py: Python<'py>,
        messages: &Bound<'py, PyAny>,
        ts_recv_ns: Option<u64>,
    ) -> PyResult<(Bound<'py, PyArray1<PyEvent>>, usize)> {
        let list = messages.cast::<PyList>().map_err(|_| {
            PyTypeError::new_err("messages must be a list of bytes objects".to_string())
        })?;
        let mut views: Vec<Bound<'py, PyBytes>> = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let b = item.cast_into::<PyBytes>().map_err(|e| {
                PyTypeError::new_err(format!(
                    "messages[{i}] must be bytes, got {}",
                    e.into_inner()
                        .get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ))
            })?;
            views.push(b);
        }
        let slices: Vec<&[u8]> = views.iter().map(|b| b.as_bytes()).collect();
        self.decode_all(py, slices.iter().copied(), ts_recv_ns)
    }

    /// Decodes every message of `messages` with the GIL released into one array; rejected
    /// messages are counted by reason and skipped.
    fn decode_all<'py, 'm>(
        &self,
        py: Python<'py>,
        messages: impl Iterator<Item = &'m [u8]> + Send,
        ts_recv_ns: Option<u64>,
    ) -> PyResult<(Bound<'py, PyArray1<PyEvent>>, usize)> {
        let ts = ts_recv_ns.unwrap_or_else(now_ns);
        let mut state = self.lock();
        let (decoder, scratch) = &mut *state;
        scratch.clear();
        let rejected = py.detach(|| {
            messages
                .filter(|m| decoder.decode_into(m, ts, scratch).is_err())
                .count()
        });
        Ok((events_to_array(py, scratch), rejected))
    }

    /// Decodes a buffer of newline-separated messages (one per line, as recorded or
    /// received in a batch) without a Python object per message; empty lines are skipped.
    fn decode_lines<'py>(
        &self,
        py: Python<'py>,
        buffer: &[u8],
        ts_recv_ns: Option<u64>,
    ) -> PyResult<(Bound<'py, PyArray1<PyEvent>>, usize)> {
        self.decode_all(py, baconalgo_core::feed::lines(buffer), ts_recv_ns)
    }

    fn instrument_index(&self, symbol: &str) -> Option<u32> {
        self.instruments.index_of(self.venue, symbol)
    }

    fn instrument_spec(&self, index: u32) -> PyResult<&Instrument> {
        self.instruments
            .get(index)
            .ok_or_else(|| PyValueError::new_err(format!("no instrument with index {index}")))
    }

    fn instrument(&self, index: u32) -> PyResult<(String, String, String)> {
        let i = self.instrument_spec(index)?;
        Ok((
            i.symbol.clone(),
            i.tick.format_steps(1),
            i.lot.format_steps(1),
        ))
    }

    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let state = self.lock();
        counters_dict(py, state.0.decode_counters())
    }
}

pub fn events_to_array<'py>(py: Python<'py>, events: &[Event]) -> Bound<'py, PyArray1<PyEvent>> {
    // SAFETY: `PyEvent` is `repr(transparent)` over `Event`.
    let as_py: &[PyEvent] =
        unsafe { std::slice::from_raw_parts(events.as_ptr().cast::<PyEvent>(), events.len()) };
    PyArray1::from_slice(py, as_py)
}

fn counters_dict<'py>(py: Python<'py>, c: &DecodeCounters) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("decoded", c.decoded)?;
    d.set_item("control", c.control)?;
    d.set_item("venue_errors", c.venue_errors)?;
    d.set_item("rejected", c.rejected())?;
    d.set_item("malformed_json", c.malformed_json)?;
    d.set_item("bad_field", c.bad_field)?;
    d.set_item("negative_quantity", c.negative_quantity)?;
    d.set_item("bad_decimal", c.bad_decimal)?;
    d.set_item("unknown_symbol", c.unknown_symbol)?;
    d.set_item("unsupported", c.unsupported)?;
    Ok(d)
}

/// The methods every decoder class has, plus the class's own `extra` methods.
macro_rules! decoder_methods {
    ($class:ident { $($extra:tt)* }) => {
        #[pymethods]
        impl $class {
            /// Decodes one websocket message into events; raises `FeedError` (and counts
            /// it) when the message is malformed. `ts_recv_ns` defaults to now.
            #[pyo3(signature = (data, ts_recv_ns = None))]
            fn decode<'py>(
                &self,
                py: Python<'py>,
                data: &[u8],
                ts_recv_ns: Option<u64>,
            ) -> PyResult<Bound<'py, PyArray1<PyEvent>>> {
                self.core.decode(py, data, ts_recv_ns)
            }

            /// Decodes a list of messages with the GIL released into one array; returns
            /// `(events, rejected)`. Rejected messages are counted by reason and skipped.
            #[pyo3(signature = (messages, ts_recv_ns = None))]
            fn decode_many<'py>(
                &self,
                py: Python<'py>,
                messages: &Bound<'py, PyAny>,
                ts_recv_ns: Option<u64>,
            ) -> PyResult<(Bound<'py, PyArray1<PyEvent>>, usize)> {
                self.core.decode_many(py, messages, ts_recv_ns)
            }

            /// Decodes a bytes buffer of newline-separated messages (one JSON message per
            /// line) with the GIL released into one array; returns `(events, rejected)`.
            /// No Python object is made per message; empty lines are skipped.
            #[pyo3(signature = (buffer, ts_recv_ns = None))]
            fn decode_lines<'py>(
                &self,
                py: Python<'py>,
                buffer: &[u8],
                ts_recv_ns: Option<u64>,
            ) -> PyResult<(Bound<'py, PyArray1<PyEvent>>, usize)> {
                self.core.decode_lines(py, buffer, ts_recv_ns)
            }

            /// The index events carry in `instrument` for `symbol`, or None.
            fn instrument_index(&self, symbol: &str) -> Option<u32> {
                self.core.instrument_index(symbol)
            }

            /// `(symbol, tick, lot)` of instrument `index`.
            fn instrument(&self, index: u32) -> PyResult<(String, String, String)> {
                self.core.instrument(index)
            }

            /// Price in ticks of instrument `index` as a decimal string, exactly.
            fn format_price(&self, index: u32, price_ticks: i64) -> PyResult<String> {
                Ok(self.core.instrument_spec(index)?.format_price(price_ticks))
            }

            /// Quantity in lots of instrument `index` as a decimal string, exactly.
            fn format_qty(&self, index: u32, qty_lots: i64) -> PyResult<String> {
                Ok(self.core.instrument_spec(index)?.format_qty(qty_lots))
            }

            /// Decoded and rejected message counts, by reason.
            fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
                self.core.counters(py)
            }

            $($extra)*
        }
    };
}

#[pyclass(module = "baconalgo._core", name = "BinanceDecoder", frozen)]
pub struct PyBinanceDecoder {
    core: DecoderCore<BinanceDecoder>,
}

decoder_methods!(PyBinanceDecoder {
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
        let table = Arc::new(instrument_table(venue, &instruments)?);
        Ok(PyBinanceDecoder {
            core: DecoderCore::new(BinanceDecoder::new(market, venue, table.clone()), table, venue),
        })
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
        self.core.run(py, |d, out| {
            d.decode_depth_snapshot(symbol, data, ts, out).map(|_| ())
        })
    }
});

/// A decoder class whose constructor takes only the instrument table.
macro_rules! simple_decoder {
    ($class:ident, $name:literal, $core:ident, $doc:literal { $($extra:tt)* }) => {
        #[doc = $doc]
        #[pyclass(module = "baconalgo._core", name = $name, frozen)]
        pub struct $class {
            core: DecoderCore<$core>,
        }

        decoder_methods!($class {
            /// `instruments` a list of `(symbol, tick, lot)` with tick and lot as decimal
            /// strings, symbols as the venue writes them.
            #[new]
            #[pyo3(signature = (instruments, venue = 0))]
            fn new(instruments: Vec<(String, String, String)>, venue: u8) -> PyResult<Self> {
                let table = Arc::new(instrument_table(venue, &instruments)?);
                Ok($class {
                    core: DecoderCore::new($core::new(venue, table.clone()), table, venue),
                })
            }
            $($extra)*
        });
    };
}

simple_decoder!(PyOkxDecoder, "OkxDecoder", OkxDecoder,
    "OKX v5 public websocket messages (`books`, `trades`, `tickers`, event replies)." {});

simple_decoder!(PyKrakenDecoder, "KrakenDecoder", KrakenDecoder,
    "Kraken spot websocket v1 and v2 messages (books, trades, heartbeats, replies)." {});

simple_decoder!(PyCoinbaseDecoder, "CoinbaseDecoder", CoinbaseDecoder,
    "Coinbase Advanced Trade messages of one connection, with its `sequence_num` gap check." {
    /// True after a `sequence_num` gap until `resubscribed()`.
    #[getter]
    fn needs_resubscribe(&self) -> bool {
        self.core.lock().0.needs_resubscribe()
    }

    /// `(expected, received)` of the first gap since the last resubscription, or None.
    fn gap(&self) -> Option<(u64, u64)> {
        self.core.lock().0.gap().map(|g| (g.expected, g.received))
    }

    /// Sequence gaps seen since the decoder was created.
    #[getter]
    fn gaps(&self) -> u64 {
        self.core.lock().0.gaps()
    }

    /// `sequence_num` of the last decoded message, or None.
    #[getter]
    fn last_sequence(&self) -> Option<u64> {
        self.core.lock().0.last_sequence()
    }

    /// The caller resubscribed `level2` (a new snapshot follows): clears the gap.
    fn resubscribed(&self) {
        self.core.lock().0.resubscribed()
    }

    /// A new websocket connection: its `sequence_num` starts afresh.
    fn reconnected(&self) {
        self.core.lock().0.reconnected()
    }
});

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBinanceDecoder>()?;
    m.add_class::<PyOkxDecoder>()?;
    m.add_class::<PyKrakenDecoder>()?;
    m.add_class::<PyCoinbaseDecoder>()?;
    Ok(())
}
