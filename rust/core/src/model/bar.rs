//! OHLCV bars and how they travel the bus: as a run of four `Bar` events (open, high,
//! low, close), the form the Binance kline decoder and the bar builders share.
//!
//! | field | meaning |
//! |---|---|
//! | `ts_event_ns` | bar open time |
//! | `seq` | bar close time (end of the window, ns) |
//! | `aux` | 0, 1, 2, 3 = open, high, low, close |
//! | `price_ticks` | that price |
//! | `qty_lots` | bar volume |
//! | `id` | number of trades |
//! | `flags` | [`flags::FINAL`] once the bar is closed; [`flags::LAST_IN_BATCH`] on the close |

use super::event::{flags, Event, EventKind};

/// One bar of one instrument, prices in ticks and volume in lots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bar {
    pub instrument: u32,
    pub venue: u8,
    pub ts_open_ns: u64,
    pub ts_close_ns: u64,
    pub open_ticks: i64,
    pub high_ticks: i64,
    pub low_ticks: i64,
    pub close_ticks: i64,
    pub volume_lots: i64,
    pub trades: u64,
    /// False while the bar's window is still open (a partial bar).
    pub closed: bool,
}

impl Bar {
    /// The four-event run that carries this bar on the bus.
    pub fn to_events(&self, ts_recv_ns: u64) -> [Event; 4] {
        let template = Event {
            ts_event_ns: self.ts_open_ns,
            ts_recv_ns,
            seq: self.ts_close_ns,
            qty_lots: self.volume_lots,
            id: self.trades,
            instrument: self.instrument,
            kind: EventKind::Bar as u8,
            venue: self.venue,
            flags: if self.closed { flags::FINAL } else { 0 },
            ..Event::default()
        };
        let prices = [
            self.open_ticks,
            self.high_ticks,
            self.low_ticks,
            self.close_ticks,
        ];
        let mut run = [template; 4];
        for (i, (event, price)) in run.iter_mut().zip(prices).enumerate() {
            event.aux = i as i64;
            event.price_ticks = price;
        }
        run[3].flags |= flags::LAST_IN_BATCH;
        run
    }

    /// The bar a four-event run carries, or `None` when the run is not one bar.
    pub fn from_events(run: &[Event]) -> Option<Bar> {
        let [o, h, l, c] = run else { return None };
        let same_bar = [o, h, l, c].iter().enumerate().all(|(i, e)| {
            e.kind == EventKind::Bar as u8
                && e.aux == i as i64
                && e.ts_event_ns == o.ts_event_ns
                && e.seq == o.seq
                && e.instrument == o.instrument
        });
        same_bar.then_some(Bar {
            instrument: o.instrument,
            venue: o.venue,
            ts_open_ns: o.ts_event_ns,
            ts_close_ns: o.seq,
            open_ticks: o.price_ticks,
            high_ticks: h.price_ticks,
            low_ticks: l.price_ticks,
            close_ticks: c.price_ticks,
            volume_lots: c.qty_lots,
            trades: c.id,
            closed: c.flags & flags::FINAL != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_round_trips_through_its_event_run() {
        let bar = Bar {
            instrument: 3,
            venue: 1,
            ts_open_ns: 60_000_000_000,
            ts_close_ns: 120_000_000_000,
            open_ticks: 100,
            high_ticks: 130,
            low_ticks: 90,
            close_ticks: 120,
            volume_lots: 77,
            trades: 5,
            closed: true,
        };
        let run = bar.to_events(9);
        assert_eq!(run.map(|e| e.aux), [0, 1, 2, 3]);
        assert_eq!(run[3].flags, flags::FINAL | flags::LAST_IN_BATCH);
        assert_eq!(Bar::from_events(&run), Some(bar));
        assert_eq!(Bar::from_events(&run[..3]), None);
        let mut shuffled = run;
        shuffled.swap(1, 2);
        assert_eq!(Bar::from_events(&shuffled), None);
    }
}
