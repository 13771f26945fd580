//! Order books and their synchronisers for Python: `OrderBook` (apply an `EVENT_DTYPE`
//! batch, query the top, export levels as numpy) and `BinanceBookSync`, `OkxBookSync`,
//! `KrakenBookSync` (decoded batches in, outcome and state out). Batches are applied with
//! the GIL released; every object is internally locked, so a status thread may read a book
//! while the feed thread updates it.

use std::sync::{Mutex, MutexGuard};

use baconalgo_core::book::{
    BinanceBookSync, CheckedOutcome, CheckedStats, DiffOutcome, KrakenBookSync, OkxBookSync,
    OrderBook, SnapshotOutcome, SyncRule, SyncState,
};
use baconalgo_core::model::{split_messages, Event, Instrument, Side};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::bus::events_array;
use crate::event::{as_events, PyEvent};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A side given as `Side.BID`/`Side.ASK` (1/2) or "bid"/"ask"/"buy"/"sell".
pub(crate) fn parse_side(side: &Bound<'_, PyAny>) -> PyResult<Side> {
    if let Ok(v) = side.extract::<i64>() {
        return match v {
            1 => Ok(Side::Buy),
            2 => Ok(Side::Sell),
            _ => Err(PyValueError::new_err(format!(
                "side must be 1 (bid/buy) or 2 (ask/sell), got {v}"
            ))),
        };
    }
    if let Ok(s) = side.extract::<String>() {
        return match s.to_ascii_lowercase().as_str() {
            "bid" | "buy" => Ok(Side::Buy),
            "ask" | "sell" => Ok(Side::Sell),
            _ => Err(PyValueError::new_err(format!(
                "side must be 'bid', 'ask', 'buy' or 'sell', got {s:?}"
            ))),
        };
    }
    Err(PyTypeError::new_err(
        "side must be a Side, an int (1 bid, 2 ask) or a str ('bid', 'ask')",
    ))
}

/// Runs `f` over the events of a 1-D contiguous `EVENT_DTYPE` array with the GIL released.
fn with_events<T: Send>(
    py: Python<'_>,
    events: &Bound<'_, PyAny>,
    f: impl FnOnce(&[Event]) -> T + Send,
) -> PyResult<T> {
    let array = events_array(events, "events")?;
    let readonly: PyReadonlyArray1<'_, PyEvent> = array.readonly();
    let slice = as_events(readonly.as_slice().map_err(|_| {
        PyValueError::new_err("events must be C-contiguous (use numpy.ascontiguousarray)")
    })?);
    Ok(py.detach(|| f(slice)))
}

fn level_tuple(l: Option<baconalgo_core::book::Level>) -> Option<(i64, i64)> {
    l.map(|l| (l.price_ticks, l.qty_lots))
}

/// The best `n` levels of a side as an int64 array of shape (k, 2): price_ticks, qty_lots.
fn side_array<'py>(
    py: Python<'py>,
    book: &OrderBook,
    side: Side,
    n: usize,
) -> Bound<'py, PyArray2<i64>> {
    let k = n.min(book.len(side));
    let mut flat = Vec::with_capacity(k * 2);
    for l in book.depth(side, k) {
        flat.push(l.price_ticks);
        flat.push(l.qty_lots);
    }
    // The shape matches the data by construction.
    Array2::from_shape_vec((k, 2), flat)
        .unwrap_or_else(|_| Array2::zeros((0, 2)))
        .into_pyarray(py)
}

/// Read-only queries shared by `OrderBook` and the synchronisers (on their book).
fn book_methods_dict<'py>(py: Python<'py>, book: &OrderBook) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("best_bid", level_tuple(book.best_bid()))?;
    d.set_item("best_ask", level_tuple(book.best_ask()))?;
    d.set_item("bid_levels", book.len(Side::Buy))?;
    d.set_item("ask_levels", book.len(Side::Sell))?;
    d.set_item("last_seq", book.last_seq())?;
    d.set_item("crossed", book.is_crossed())?;
    Ok(d)
}

/// An L2 order book of one instrument, keyed by integer price.
#[pyclass(module = "baconalgo._core", name = "OrderBook", frozen)]
pub struct PyOrderBook {
    book: Mutex<OrderBook>,
}

impl PyOrderBook {
    pub fn from_book(book: OrderBook) -> Self {
        PyOrderBook {
            book: Mutex::new(book),
        }
    }
}

#[pymethods]
impl PyOrderBook {
    /// An empty book for events whose `instrument` field is `instrument`.
    #[new]
    #[pyo3(signature = (instrument = 0))]
    fn new(instrument: u32) -> Self {
        PyOrderBook::from_book(OrderBook::new(instrument))
    }

    /// Applies a batch in order with the GIL released: `BOOK_SNAPSHOT_BEGIN` clears the
    /// book, `BOOK_DELTA` sets a level (0 deletes), `BOOK_SNAPSHOT_END` records the
    /// snapshot's sequence; other kinds and instruments are skipped. Returns counts.
    fn apply<'py>(
        &self,
        py: Python<'py>,
        events: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let stats = with_events(py, events, |ev| lock(&self.book).apply_events(ev))?;
        let d = PyDict::new(py);
        d.set_item("levels", stats.levels)?;
        d.set_item("skipped", stats.skipped)?;
        d.set_item("snapshots", stats.snapshots)?;
        Ok(d)
    }

    /// Sets one level: quantity 0 deletes it.
    fn set_level(&self, side: &Bound<'_, PyAny>, price_ticks: i64, qty_lots: i64) -> PyResult<()> {
        if qty_lots < 0 {
            return Err(PyValueError::new_err(format!(
                "qty_lots must be >= 0, got {qty_lots}"
            )));
        }
        lock(&self.book).apply_delta(parse_side(side)?, price_ticks, qty_lots);
        Ok(())
    }

    fn clear(&self) {
        lock(&self.book).clear()
    }

    #[getter]
    fn instrument(&self) -> u32 {
        lock(&self.book).instrument()
    }

    /// Sequence (venue update id) of the last applied event or snapshot.
    #[getter]
    fn last_seq(&self) -> u64 {
        lock(&self.book).last_seq()
    }

    /// `(price_ticks, qty_lots)` of the best bid, or None.
    fn best_bid(&self) -> Option<(i64, i64)> {
        level_tuple(lock(&self.book).best_bid())
    }

    /// `(price_ticks, qty_lots)` of the best ask, or None.
    fn best_ask(&self) -> Option<(i64, i64)> {
        level_tuple(lock(&self.book).best_ask())
    }

    /// Best ask minus best bid in ticks, or None if a side is empty.
    fn spread(&self) -> Option<i64> {
        lock(&self.book).spread_ticks()
    }

    /// Mid price in ticks (a float: it may fall between ticks), or None.
    fn mid(&self) -> Option<f64> {
        lock(&self.book).mid_ticks()
    }

    /// True when the best bid is at or above the best ask.
    fn is_crossed(&self) -> bool {
        lock(&self.book).is_crossed()
    }

    /// Levels on a side.
    fn levels(&self, side: &Bound<'_, PyAny>) -> PyResult<usize> {
        Ok(lock(&self.book).len(parse_side(side)?))
    }

    /// Quantity resting at a price (0 if none).
    fn qty_at(&self, side: &Bound<'_, PyAny>, price_ticks: i64) -> PyResult<i64> {
        Ok(lock(&self.book).qty_at(parse_side(side)?, price_ticks))
    }

    /// The best `n` levels of a side, best first, as int64 array (k, 2): price, qty.
    fn depth<'py>(
        &self,
        py: Python<'py>,
        side: &Bound<'py, PyAny>,
        n: usize,
    ) -> PyResult<Bound<'py, PyArray2<i64>>> {
        let side = parse_side(side)?;
        Ok(side_array(py, &lock(&self.book), side, n))
    }

    /// `(bids, asks)`: the best `n` levels of each side, each an int64 array (k, 2).
    fn top<'py>(
        &self,
        py: Python<'py>,
        n: usize,
    ) -> (Bound<'py, PyArray2<i64>>, Bound<'py, PyArray2<i64>>) {
        let book = lock(&self.book);
        (
            side_array(py, &book, Side::Buy, n),
            side_array(py, &book, Side::Sell, n),
        )
    }

    /// What a taker order of `qty_lots` on `side` ("buy" walks the asks, "sell" the bids)
    /// would fill: filled_lots, notional (sum of price_ticks * lots), worst_price_ticks,
    /// avg_price_ticks, complete.
    fn fill_estimate<'py>(
        &self,
        py: Python<'py>,
        side: &Bound<'py, PyAny>,
        qty_lots: i64,
    ) -> PyResult<Bound<'py, PyDict>> {
        if qty_lots < 0 {
            return Err(PyValueError::new_err(format!(
                "qty_lots must be >= 0, got {qty_lots}"
            )));
        }
        let est = lock(&self.book).fill_estimate(parse_side(side)?, qty_lots);
        let d = PyDict::new(py);
        d.set_item("filled_lots", est.filled_lots)?;
        d.set_item("notional", est.notional)?;
        d.set_item("worst_price_ticks", est.worst_price_ticks)?;
        d.set_item("avg_price_ticks", est.avg_price_ticks())?;
        d.set_item("complete", est.complete)?;
        Ok(d)
    }

    /// (bid qty - ask qty) / (bid qty + ask qty) over the best `n` levels, or None.
    #[pyo3(signature = (n = 10))]
    fn imbalance(&self, n: usize) -> Option<f64> {
        lock(&self.book).imbalance(n)
    }

    /// A copy of the book.
    fn copy(&self) -> PyOrderBook {
        PyOrderBook::from_book(lock(&self.book).clone())
    }

    fn __len__(&self) -> usize {
        let b = lock(&self.book);
        b.len(Side::Buy) + b.len(Side::Sell)
    }

    fn __repr__(&self) -> String {
        let b = lock(&self.book);
        format!(
            "OrderBook(instrument={}, bids={}, asks={}, best_bid={:?}, best_ask={:?})",
            b.instrument(),
            b.len(Side::Buy),
            b.len(Side::Sell),
            level_tuple(b.best_bid()),
            level_tuple(b.best_ask()),
        )
    }
}

fn state_name(s: SyncState) -> &'static str {
    match s {
        SyncState::AwaitingSnapshot => "awaiting_snapshot",
        SyncState::Synced => "synced",
        SyncState::NeedsResync => "needs_resync",
    }
}

fn diff_outcome_name(o: DiffOutcome) -> &'static str {
    match o {
        DiffOutcome::Buffered => "buffered",
        DiffOutcome::Applied => "applied",
        DiffOutcome::Stale => "stale",
        DiffOutcome::Gap => "gap",
        DiffOutcome::NotADiff => "not_a_diff",
    }
}

fn checked_outcome_name(o: CheckedOutcome) -> &'static str {
    match o {
        CheckedOutcome::Snapshot => "snapshot",
        CheckedOutcome::Applied => "applied",
        CheckedOutcome::Heartbeat => "heartbeat",
        CheckedOutcome::AwaitingSnapshot => "awaiting_snapshot",
        CheckedOutcome::Gap { .. } => "gap",
        CheckedOutcome::ChecksumMismatch { .. } => "checksum_mismatch",
        CheckedOutcome::NotABookMessage => "not_a_book_message",
    }
}

/// Folds per-message outcomes into the one a batch reports: the first failure wins,
/// otherwise the last message that touched the book (or the quiet default).
fn fold_outcome(
    current: &'static str,
    next: &'static str,
    failures: &[&str],
    quiet: &[&str],
) -> &'static str {
    let keep = failures.contains(&current) || (quiet.contains(&next) && !quiet.contains(&current));
    if keep {
        current
    } else {
        next
    }
}

/// Keeps one book in step with a Binance depth stream (snapshot + diffs, update-id rules).
#[pyclass(module = "baconalgo._core", name = "BinanceBookSync", frozen)]
pub struct PyBinanceBookSync {
    sync: Mutex<BinanceBookSync>,
}

#[pymethods]
impl PyBinanceBookSync {
    /// `market` "spot" (`U == prev u + 1`) or "usdm" (`pu == prev u`), for the
    /// instrument index the decoder gives the symbol.
    #[new]
    #[pyo3(signature = (market, instrument = 0, max_buffered_diffs = 10_000))]
    fn new(market: &str, instrument: u32, max_buffered_diffs: usize) -> PyResult<Self> {
        let rule = match market {
            "spot" => SyncRule::Spot,
            "usdm" => SyncRule::UsdM,
            other => {
                return Err(PyValueError::new_err(format!(
                    "market must be 'spot' or 'usdm', got {other:?}"
                )))
            }
        };
        Ok(PyBinanceBookSync {
            sync: Mutex::new(
                BinanceBookSync::new(rule, instrument).with_max_buffered_diffs(max_buffered_diffs),
            ),
        })
    }

    /// Feeds decoded events (one or more messages; events of other instruments and
    /// non-diff messages are ignored). Returns "applied", "buffered", "stale", "gap" or
    /// "not_a_diff": a gap anywhere in the batch wins, else the last diff's outcome.
    fn on_events(&self, py: Python<'_>, events: &Bound<'_, PyAny>) -> PyResult<&'static str> {
        with_events(py, events, |ev| {
            let mut sync = lock(&self.sync);
            let instrument = sync.book().instrument();
            let mut outcome = "not_a_diff";
            for msg in split_messages(ev) {
                if msg.first().is_some_and(|e| e.instrument != instrument) {
                    continue;
                }
                let o = diff_outcome_name(sync.on_diff(msg));
                outcome = fold_outcome(outcome, o, &["gap"], &["not_a_diff"]);
            }
            outcome
        })
    }

    /// Feeds a decoded REST snapshot and replays the buffered diffs on it. Returns
    /// `("synced", replayed)`, `("too_old", 0)` (fetch a newer one) or
    /// `("not_a_snapshot", 0)`.
    fn on_snapshot(
        &self,
        py: Python<'_>,
        events: &Bound<'_, PyAny>,
    ) -> PyResult<(&'static str, usize)> {
        with_events(py, events, |ev| match lock(&self.sync).on_snapshot(ev) {
            SnapshotOutcome::Synced { replayed } => ("synced", replayed),
            SnapshotOutcome::TooOld => ("too_old", 0),
            SnapshotOutcome::NotASnapshot => ("not_a_snapshot", 0),
        })
    }

    /// Discards the book and buffer (e.g. after a reconnect): a new snapshot is needed.
    fn reset(&self) {
        lock(&self.sync).reset()
    }

    /// "awaiting_snapshot", "synced" or "needs_resync".
    #[getter]
    fn state(&self) -> &'static str {
        state_name(lock(&self.sync).state())
    }

    /// True when a REST snapshot must be fetched (at start and after a gap).
    #[getter]
    fn needs_snapshot(&self) -> bool {
        lock(&self.sync).needs_snapshot()
    }

    /// Update id the book is at.
    #[getter]
    fn last_update_id(&self) -> u64 {
        lock(&self.sync).last_update_id()
    }

    /// Diffs waiting for a snapshot.
    #[getter]
    fn buffered_diffs(&self) -> usize {
        lock(&self.sync).buffered_diffs()
    }

    /// A copy of the book (meaningful while `state == "synced"`).
    fn book(&self) -> PyOrderBook {
        PyOrderBook::from_book(lock(&self.sync).book().clone())
    }

    /// Top of book and sizes without copying the book: best_bid, best_ask, bid_levels,
    /// ask_levels, last_seq, crossed.
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let sync = lock(&self.sync);
        let d = book_methods_dict(py, sync.book())?;
        d.set_item("state", state_name(sync.state()))?;
        Ok(d)
    }

    /// applied, stale, gaps, snapshots, buffer_overflows.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = lock(&self.sync).stats();
        let d = PyDict::new(py);
        d.set_item("applied", s.applied)?;
        d.set_item("stale", s.stale)?;
        d.set_item("gaps", s.gaps)?;
        d.set_item("snapshots", s.snapshots)?;
        d.set_item("buffer_overflows", s.buffer_overflows)?;
        Ok(d)
    }
}

/// The checksummed synchronisers (OKX, Kraken) share their batch entry point.
trait Checked: Send {
    fn on_message(&mut self, events: &[Event]) -> CheckedOutcome;
}

macro_rules! impl_checked {
    ($($t:ty),*) => {$(
        impl Checked for $t {
            fn on_message(&mut self, events: &[Event]) -> CheckedOutcome {
                <$t>::on_message(self, events)
            }
        }
    )*};
}
impl_checked!(OkxBookSync, KrakenBookSync);

fn checked_on_events<S: Checked>(
    py: Python<'_>,
    sync: &Mutex<S>,
    events: &Bound<'_, PyAny>,
) -> PyResult<&'static str> {
    with_events(py, events, |ev| {
        let mut sync = lock(sync);
        let mut outcome = "not_a_book_message";
        for msg in split_messages(ev) {
            let o = checked_outcome_name(sync.on_message(msg));
            outcome = fold_outcome(
                outcome,
                o,
                &["gap", "checksum_mismatch"],
                &["not_a_book_message"],
            );
        }
        outcome
    })
}

fn checked_stats<'py>(py: Python<'py>, s: CheckedStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("snapshots", s.snapshots)?;
    d.set_item("applied", s.applied)?;
    d.set_item("heartbeats", s.heartbeats)?;
    d.set_item("checksums_ok", s.checksums_ok)?;
    d.set_item("checksum_mismatches", s.checksum_mismatches)?;
    d.set_item("gaps", s.gaps)?;
    d.set_item("ignored", s.ignored)?;
    Ok(d)
}

fn spec(tick: &str, lot: &str) -> PyResult<Instrument> {
    Instrument::new("", 0, tick, lot)
        .map_err(|e| PyValueError::new_err(format!("instrument (tick {tick:?}, lot {lot:?}): {e}")))
}

macro_rules! checked_methods {
    ($class:ident { $($extra:tt)* }) => {
        #[pymethods]
        impl $class {
            /// Feeds decoded events (one or more messages of this instrument; others are
            /// ignored). Returns "snapshot", "applied", "heartbeat", "awaiting_snapshot",
            /// "gap", "checksum_mismatch" or "not_a_book_message": a failure anywhere in
            /// the batch wins, else the last book message's outcome. After a failure the
            /// book is discarded: resubscribe for a new snapshot.
            fn on_events(&self, py: Python<'_>, events: &Bound<'_, PyAny>) -> PyResult<&'static str> {
                checked_on_events(py, &self.sync, events)
            }

            /// Discards the book (e.g. after a reconnect): the next snapshot restarts it.
            fn reset(&self) {
                lock(&self.sync).reset()
            }

            /// "awaiting_snapshot", "synced" or "needs_resync".
            #[getter]
            fn state(&self) -> &'static str {
                state_name(lock(&self.sync).state())
            }

            /// True when the caller must (re)subscribe to get a snapshot.
            #[getter]
            fn needs_resync(&self) -> bool {
                lock(&self.sync).state() != SyncState::Synced
            }

            /// A copy of the book (meaningful while `state == "synced"`).
            fn book(&self) -> PyOrderBook {
                PyOrderBook::from_book(lock(&self.sync).book().clone())
            }

            /// Top of book and sizes without copying the book.
            fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
                let sync = lock(&self.sync);
                let d = book_methods_dict(py, sync.book())?;
                d.set_item("state", state_name(sync.state()))?;
                Ok(d)
            }

            /// snapshots, applied, heartbeats, checksums_ok, checksum_mismatches, gaps, ignored.
            fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
                checked_stats(py, lock(&self.sync).stats())
            }

            /// The text the last checksum was computed over (diagnostics).
            fn last_checksum_text(&self) -> String {
                lock(&self.sync).last_checksum_text().to_string()
            }

            $($extra)*
        }
    };
}

/// Keeps one OKX `books` book in step: seqId/prevSeqId continuity and CRC32 checksums.
#[pyclass(module = "baconalgo._core", name = "OkxBookSync", frozen)]
pub struct PyOkxBookSync {
    sync: Mutex<OkxBookSync>,
}

checked_methods!(PyOkxBookSync {
    /// For the instrument at index `instrument`, whose `tick` and `lot` (decimal strings,
    /// as given to the decoder) write levels back in their wire form for the checksum.
    #[new]
    #[pyo3(signature = (instrument, tick, lot))]
    fn new(instrument: u32, tick: &str, lot: &str) -> PyResult<Self> {
        Ok(PyOkxBookSync {
            sync: Mutex::new(OkxBookSync::new(instrument, &spec(tick, lot)?)),
        })
    }

    /// `seqId` of the last applied message, if the venue sends sequence ids.
    #[getter]
    fn last_seq_id(&self) -> Option<i64> {
        lock(&self.sync).last_seq_id()
    }
});

/// Keeps one Kraken book in step at the subscribed depth, verifying CRC32 checksums.
#[pyclass(module = "baconalgo._core", name = "KrakenBookSync", frozen)]
pub struct PyKrakenBookSync {
    sync: Mutex<KrakenBookSync>,
}

checked_methods!(PyKrakenBookSync {
    /// For the instrument at index `instrument` subscribed at `depth` levels (10, 25,
    /// 100, 500 or 1000); `tick` and `lot` as given to the decoder.
    #[new]
    #[pyo3(signature = (instrument, tick, lot, depth))]
    fn new(instrument: u32, tick: &str, lot: &str, depth: usize) -> PyResult<Self> {
        if !matches!(depth, 10 | 25 | 100 | 500 | 1000) {
            return Err(PyValueError::new_err(format!(
                "depth must be 10, 25, 100, 500 or 1000 (Kraken's book depths), got {depth}"
            )));
        }
        Ok(PyKrakenBookSync {
            sync: Mutex::new(KrakenBookSync::new(instrument, &spec(tick, lot)?, depth)),
        })
    }

    /// The subscribed depth the book is truncated to.
    #[getter]
    fn depth(&self) -> usize {
        lock(&self.sync).depth()
    }
});

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyOrderBook>()?;
    m.add_class::<PyBinanceBookSync>()?;
    m.add_class::<PyOkxBookSync>()?;
    m.add_class::<PyKrakenBookSync>()?;
    Ok(())
}
