//! `baconalgo._core.Bus`: the Disruptor bus for Python. Graph building, publishing (one
//! event or a numpy batch), polling numpy batches, counters.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use baconalgo_core::bus::handlers::{handler_by_name, HandlerStats};
use baconalgo_core::bus::{Bus, BusBuilder, Producer, ProducerMode, WaitStrategy};
use baconalgo_core::model::{time::now_ns, validate_batch, Event};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors::{bus_err, BusClosed, BusError};
use crate::event::{as_events, as_events_mut, PyEvent};

/// How long one GIL-free wait lasts before Python gets to handle signals.
const WAIT_SLICE: Duration = Duration::from_millis(50);

struct Running {
    bus: Bus<Event>,
    /// Single producer: the one handle, serialised. Multi producer: a template to clone.
    producer: Mutex<Producer<Event>>,
}

#[pyclass(module = "baconalgo._core", name = "Bus")]
pub struct PyBus {
    mode: ProducerMode,
    building: Mutex<Option<BusBuilder<Event>>>,
    handler_kinds: Mutex<HashMap<String, String>>,
    stats: Mutex<HashMap<String, Arc<dyn HandlerStats>>>,
    running: OnceLock<Running>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PyBus {
    fn running(&self) -> PyResult<&Running> {
        self.running.get().ok_or_else(|| {
            if lock(&self.building).is_some() {
                BusError::new_err("bus is not started: call start() after adding consumers")
            } else {
                BusClosed::new_err("bus is closed")
            }
        })
    }

    fn with_builder<T>(
        &self,
        f: impl FnOnce(&mut BusBuilder<Event>) -> PyResult<T>,
    ) -> PyResult<T> {
        match lock(&self.building).as_mut() {
            Some(b) => f(b),
            None if self.running.get().is_some() => Err(BusError::new_err(
                "the consumer graph is fixed once the bus has started",
            )),
            None => Err(BusClosed::new_err("bus is closed")),
        }
    }

    /// Runs `f` with a producer, with the GIL released when `detach` (for anything that may
    /// wait) or when another thread holds the single producer. Single producer: the one
    /// handle. Multi producer: a fresh handle per call.
    fn with_producer<T: Send>(
        &self,
        py: Python<'_>,
        detach: bool,
        f: impl FnOnce(&mut Producer<Event>) -> T + Send,
    ) -> PyResult<T> {
        let running = self.running()?;
        if self.mode == ProducerMode::Multi {
            let mut p = lock(&running.producer).try_clone().map_err(bus_err)?;
            return Ok(if detach {
                py.detach(|| f(&mut p))
            } else {
                f(&mut p)
            });
        }
        if !detach {
            if let Ok(mut p) = running.producer.try_lock() {
                return Ok(f(&mut p));
            }
        }
        Ok(py.detach(|| f(&mut lock(&running.producer))))
    }
}

#[pymethods]
impl PyBus {
    /// A bus with a ring of `capacity` events (a power of two), `producer` "single" or
    /// "multi", and `wait` "busy_spin", "yielding" or "blocking".
    #[new]
    #[pyo3(signature = (capacity = 65536, producer = "single", wait = "yielding"))]
    fn new(capacity: usize, producer: &str, wait: &str) -> PyResult<Self> {
        let mode = ProducerMode::parse(producer).ok_or_else(|| {
            PyValueError::new_err(format!(
                "producer must be 'single' or 'multi', got {producer:?}"
            ))
        })?;
        let wait_strategy = WaitStrategy::parse(wait).ok_or_else(|| {
            PyValueError::new_err(format!(
                "wait must be 'busy_spin', 'yielding' or 'blocking', got {wait:?}"
            ))
        })?;
        let builder = BusBuilder::new(capacity, mode, wait_strategy).map_err(bus_err)?;
        Ok(PyBus {
            mode,
            building: Mutex::new(Some(builder)),
            handler_kinds: Mutex::new(HashMap::new()),
            stats: Mutex::new(HashMap::new()),
            running: OnceLock::new(),
        })
    }

    /// Attaches the built-in Rust consumer `handler` (see `HANDLERS`) under `name`, on its
    /// own thread, seeing each event after every consumer in `after`; `core` pins it.
    #[pyo3(signature = (name, handler, after = Vec::new(), core = None))]
    fn add_consumer(
        &self,
        name: &str,
        handler: &str,
        after: Vec<String>,
        core: Option<usize>,
    ) -> PyResult<()> {
        self.with_builder(|b| {
            let (h, stats) = handler_by_name(handler).map_err(bus_err)?;
            let after: Vec<&str> = after.iter().map(String::as_str).collect();
            b.add_handler(name, h, &after, core).map_err(bus_err)?;
            lock(&self.stats).insert(name.to_string(), stats);
            lock(&self.handler_kinds).insert(name.to_string(), handler.to_string());
            Ok(())
        })
    }

    /// Adds a consumer that Python reads with `poll(name)`.
    #[pyo3(signature = (name, after = Vec::new()))]
    fn add_poller(&self, name: &str, after: Vec<String>) -> PyResult<()> {
        self.with_builder(|b| {
            let after: Vec<&str> = after.iter().map(String::as_str).collect();
            b.add_poller(name, &after).map_err(bus_err)?;
            lock(&self.handler_kinds).insert(name.to_string(), "poller".to_string());
            Ok(())
        })
    }

    /// Allocates the ring and starts the consumer threads; the graph is fixed from here.
    fn start(&self) -> PyResult<()> {
        let builder = lock(&self.building).take();
        let Some(builder) = builder else {
            return Err(match self.running.get() {
                Some(_) => BusError::new_err("bus is already started"),
                None => BusClosed::new_err("bus is closed"),
            });
        };
        let bus = builder.start().map_err(bus_err)?;
        let producer = bus.producer().map_err(bus_err)?;
        let _ = self.running.set(Running {
            bus,
            producer: Mutex::new(producer),
        });
        Ok(())
    }

    /// Publishes one event, waiting (GIL released) while the ring is full.
    /// `ts_recv_ns` defaults to now.
    #[pyo3(signature = (kind, instrument = 0, price_ticks = 0, qty_lots = 0, side = 0,
        ts_event_ns = 0, ts_recv_ns = None, seq = 0, id = 0, aux = 0, venue = 0, flags = 0))]
    #[allow(clippy::too_many_arguments)]
    fn publish(
        &self,
        py: Python<'_>,
        kind: u8,
        instrument: u32,
        price_ticks: i64,
        qty_lots: i64,
        side: u8,
        ts_event_ns: u64,
        ts_recv_ns: Option<u64>,
        seq: u64,
        id: u64,
        aux: i64,
        venue: u8,
        flags: u8,
    ) -> PyResult<()> {
        let event = Event {
            ts_event_ns,
            ts_recv_ns: ts_recv_ns.unwrap_or_else(now_ns),
            seq,
            price_ticks,
            qty_lots,
            id,
            aux,
            instrument,
            kind,
            side,
            venue,
            flags,
        };
        event
            .validate()
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        match self.with_producer(py, false, |p| p.try_publish(event))? {
            Err(baconalgo_core::bus::BusError::Full) => loop {
                // Wait for room without the GIL (the consumer may be Python), in slices so
                // Ctrl-C still interrupts a producer stuck behind a consumer that stopped.
                let done =
                    self.with_producer(py, true, |p| p.publish_timeout(event, WAIT_SLICE))?;
                if done.map_err(bus_err)? {
                    return Ok(());
                }
                py.check_signals()?;
            },
            other => other.map_err(bus_err),
        }
    }

    /// Publishes a 1-D contiguous array of `EVENT_DTYPE`, in claims of up to the ring size,
    /// with the GIL released. With `block=False`, publishes all or nothing and raises
    /// `BusFull` when the batch does not fit now.
    #[pyo3(signature = (events, block = true))]
    fn publish_batch(
        &self,
        py: Python<'_>,
        events: &Bound<'_, PyAny>,
        block: bool,
    ) -> PyResult<usize> {
        let array = events_array(events, "events")?;
        let readonly: PyReadonlyArray1<'_, PyEvent> = array.readonly();
        let slice = as_events(readonly.as_slice().map_err(|_| {
            PyValueError::new_err("events must be C-contiguous (use numpy.ascontiguousarray)")
        })?);
        validate_batch(slice)
            .map_err(|(i, e)| PyValueError::new_err(format!("events[{i}]: {e}")))?;
        let n = slice.len();
        if !block {
            self.with_producer(py, false, |p| p.try_publish_batch(slice))?
                .map_err(bus_err)?;
            return Ok(n);
        }
        let mut done = 0;
        while done < n {
            let rest = &slice[done..];
            done += self
                .with_producer(py, true, |p| p.publish_batch_timeout(rest, WAIT_SLICE))?
                .map_err(bus_err)?;
            if done < n {
                // A KeyboardInterrupt here leaves events[:done] published, the rest not.
                py.check_signals()?;
            }
        }
        Ok(n)
    }

    /// Up to `max_events` events for poller `name` as a new `EVENT_DTYPE` array, waiting up
    /// to `timeout` seconds (GIL released) for the first. Raises `BusClosed` once the bus
    /// is closed and this poller has everything.
    #[pyo3(signature = (name, max_events = 65536, timeout = 0.0))]
    fn poll<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        max_events: usize,
        timeout: f64,
    ) -> PyResult<Bound<'py, PyArray1<PyEvent>>> {
        let poller = self.running()?.bus.poller(name).map_err(bus_err)?;
        let timeout = checked_timeout(timeout)?;
        let pending = if timeout.is_zero() {
            poller.wait_pending(Duration::ZERO)
        } else {
            py.detach(|| poller.wait_pending(timeout))
        }
        .map_err(|_| {
            BusClosed::new_err(format!("bus is closed and poller {name:?} has drained"))
        })?;
        let n = (pending as usize).min(max_events);
        // SAFETY: the events are plain integers, so uninitialised memory is garbage, not UB;
        // `poll` writes the first `got` elements and only those reach Python (`got == n`
        // unless another thread polled the same poller in between, handled below).
        let out = unsafe { PyArray1::<PyEvent>::new(py, n, false) };
        let got = {
            let mut rw = out.readwrite();
            let slice = as_events_mut(
                rw.as_slice_mut()
                    .map_err(|_| BusError::new_err("internal: new array not contiguous"))?,
            );
            if n > 4096 {
                py.detach(|| poller.poll(slice))
            } else {
                poller.poll(slice)
            }
        };
        let got = got.map_err(|_| {
            BusClosed::new_err(format!("bus is closed and poller {name:?} has drained"))
        })?;
        if got < n {
            // Another thread polled the same poller in between: return what we got.
            return Ok(PyArray1::from_slice(
                py,
                &out.readonly().as_slice().unwrap_or(&[])[..got],
            ));
        }
        Ok(out)
    }

    /// Fills `out` (a contiguous `EVENT_DTYPE` array) from poller `name`; returns how many.
    #[pyo3(signature = (name, out, timeout = 0.0))]
    fn poll_into(
        &self,
        py: Python<'_>,
        name: &str,
        out: &Bound<'_, PyAny>,
        timeout: f64,
    ) -> PyResult<usize> {
        let poller = self.running()?.bus.poller(name).map_err(bus_err)?;
        let timeout = checked_timeout(timeout)?;
        let array = events_array(out, "out")?;
        let mut rw = array.try_readwrite().map_err(|_| {
            PyValueError::new_err("out must be writeable and not borrowed elsewhere")
        })?;
        let slice = as_events_mut(
            rw.as_slice_mut()
                .map_err(|_| PyValueError::new_err("out must be C-contiguous"))?,
        );
        py.detach(|| poller.poll_timeout(slice, timeout))
            .map_err(|_| {
                BusClosed::new_err(format!("bus is closed and poller {name:?} has drained"))
            })
    }

    /// Published count, producer waits, and per consumer: sequence, lag, alive, panics.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        let kinds = lock(&self.handler_kinds).clone();
        let Some(running) = self.running.get() else {
            out.set_item("started", false)?;
            out.set_item("closed", lock(&self.building).is_none())?;
            out.set_item("published", 0u64)?;
            out.set_item("producer_waits", 0u64)?;
            out.set_item("consumers", PyList::empty(py))?;
            return Ok(out);
        };
        let c = running.bus.counters();
        out.set_item("started", true)?;
        out.set_item("closed", c.closed)?;
        out.set_item("capacity", c.capacity)?;
        out.set_item("producer", c.mode.name())?;
        out.set_item("wait", c.wait.name())?;
        out.set_item("published", c.published)?;
        out.set_item("producer_waits", c.producer_waits)?;
        let consumers = PyList::empty(py);
        for k in c.consumers {
            let d = PyDict::new(py);
            d.set_item("handler", kinds.get(&k.name).cloned().unwrap_or_default())?;
            d.set_item("name", k.name)?;
            d.set_item("after", k.after)?;
            d.set_item("sequence", k.sequence)?;
            d.set_item("lag", k.lag)?;
            d.set_item("alive", k.alive)?;
            d.set_item("is_poller", k.is_poller)?;
            d.set_item("handler_panics", k.handler_panics)?;
            consumers.append(d)?;
        }
        out.set_item("consumers", consumers)?;
        Ok(out)
    }

    /// What the built-in consumer `name` has counted so far.
    fn handler_stats<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyDict>> {
        let stats = lock(&self.stats)
            .get(name)
            .cloned()
            .ok_or_else(|| PyValueError::new_err(format!("no built-in consumer named {name:?}")))?;
        let out = PyDict::new(py);
        for (k, v) in stats.snapshot() {
            out.set_item(k, v)?;
        }
        Ok(out)
    }

    /// Stops accepting events, lets every consumer thread drain, and joins them (GIL
    /// released). Pollers keep what is left until polled. Idempotent.
    fn close(&self, py: Python<'_>) {
        lock(&self.building).take();
        if let Some(running) = self.running.get() {
            py.detach(|| running.bus.shutdown());
        }
    }

    #[getter]
    fn started(&self) -> bool {
        self.running.get().is_some()
    }

    #[getter]
    fn closed(&self) -> bool {
        match self.running.get() {
            Some(r) => r.bus.shared().is_closed(),
            None => lock(&self.building).is_none(),
        }
    }

    #[getter]
    fn capacity(&self) -> usize {
        match self.running.get() {
            Some(r) => r.bus.shared().capacity(),
            None => 0,
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close(py);
        false
    }
}

fn checked_timeout(timeout: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(timeout).map_err(|_| {
        PyValueError::new_err(format!(
            "timeout must be a finite number of seconds >= 0, got {timeout}"
        ))
    })
}

/// The argument as a 1-D `EVENT_DTYPE` array, or a TypeError/ValueError naming it.
pub fn events_array<'py>(
    obj: &Bound<'py, PyAny>,
    what: &str,
) -> PyResult<Bound<'py, PyArray1<PyEvent>>> {
    let untyped = obj.cast::<numpy::PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must be a numpy array of EVENT_DTYPE, got {}",
            type_name(obj)
        ))
    })?;
    if untyped.ndim() != 1 {
        return Err(PyValueError::new_err(format!(
            "{what} must be 1-D, got shape {:?}",
            untyped.shape()
        )));
    }
    obj.cast::<PyArray1<PyEvent>>().cloned().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must have dtype EVENT_DTYPE, got {}",
            untyped.dtype()
        ))
    })
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBus>()?;
    m.add(
        "HANDLERS",
        baconalgo_core::bus::handlers::HANDLER_NAMES.to_vec(),
    )?;
    Ok(())
}
