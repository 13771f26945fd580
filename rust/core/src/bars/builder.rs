use std::collections::HashMap;

use thiserror::Error;

use super::quotes::QuotePrice;
use crate::model::{flags, Bar, Event, EventKind, Side};

/// What closes a bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarSpec {
    /// Fixed windows of `every_ns`, aligned to `offset_ns` past the Unix epoch.
    Time { every_ns: u64, offset_ns: u64 },
    /// Every `trades` trades.
    Tick { trades: u64 },
    /// Once the traded quantity reaches `lots`.
    Volume { lots: i64 },
    /// Once the traded notional, in ticks x lots, reaches `notional`.
    Dollar { notional: i128 },
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BarsError {
    #[error("bar interval/threshold must be positive, got {0}")]
    NonPositive(String),
    #[error("time bar offset {offset_ns} must be smaller than the interval {every_ns}")]
    OffsetTooLarge { offset_ns: u64, every_ns: u64 },
    #[error("input columns differ in length: {0}")]
    LengthMismatch(String),
    #[error("timestamps must not decrease: index {index} has {ts_ns} after {previous_ns}")]
    Unordered {
        index: usize,
        ts_ns: u64,
        previous_ns: u64,
    },
    #[error("trade at index {index} has a negative quantity {qty_lots}")]
    NegativeQuantity { index: usize, qty_lots: i64 },
    #[error("quote at index {index} is crossed: ask {ask_ticks} below bid {bid_ticks}")]
    CrossedQuote {
        index: usize,
        bid_ticks: i64,
        ask_ticks: i64,
    },
    #[error("quote at index {index}: bid + ask overflows 64 bits")]
    PriceOverflow { index: usize },
}

impl BarSpec {
    pub fn validate(self) -> Result<BarSpec, BarsError> {
        match self {
            BarSpec::Time { every_ns: 0, .. } => Err(BarsError::NonPositive("every_ns = 0".into())),
            BarSpec::Time {
                every_ns,
                offset_ns,
            } if offset_ns >= every_ns => Err(BarsError::OffsetTooLarge {
                offset_ns,
                every_ns,
            }),
            BarSpec::Tick { trades: 0 } => Err(BarsError::NonPositive("trades = 0".into())),
            BarSpec::Volume { lots } if lots <= 0 => {
                Err(BarsError::NonPositive(format!("lots = {lots}")))
            }
            BarSpec::Dollar { notional } if notional <= 0 => {
                Err(BarsError::NonPositive(format!("notional = {notional}")))
            }
            ok => Ok(ok),
        }
    }

    /// The window a time bar for a trade at `ts_ns` starts at.
    fn window_start(every_ns: u64, offset_ns: u64, ts_ns: u64) -> u64 {
        if ts_ns < offset_ns {
            return 0;
        }
        offset_ns + (ts_ns - offset_ns) / every_ns * every_ns
    }
}

/// Builds bars of one instrument, one trade at a time.
#[derive(Debug, Clone)]
pub struct BarBuilder {
    spec: BarSpec,
    instrument: u32,
    venue: u8,
    current: Option<Bar>,
    /// Tick/volume/dollar bars: progress towards the threshold.
    notional: i128,
}

impl BarBuilder {
    pub fn new(spec: BarSpec, instrument: u32, venue: u8) -> Result<Self, BarsError> {
        Ok(BarBuilder {
            spec: spec.validate()?,
            instrument,
            venue,
            current: None,
            notional: 0,
        })
    }

    pub fn spec(&self) -> BarSpec {
        self.spec
    }

    /// The bar being built, if any trade has arrived since the last one closed.
    pub fn current(&self) -> Option<Bar> {
        self.current
    }

    /// Adds a trade. Returns the bar it closed: for time bars the previous window's bar
    /// when this trade opens a new window; for the others the bar this trade completed.
    pub fn update(&mut self, ts_ns: u64, price_ticks: i64, qty_lots: i64) -> Option<Bar> {
        let mut closed = None;
        if let BarSpec::Time {
            every_ns,
            offset_ns,
        } = self.spec
        {
            let start = BarSpec::window_start(every_ns, offset_ns, ts_ns);
            if self.current.is_some_and(|b| b.ts_open_ns != start) {
                closed = self.take_closed();
            }
            if self.current.is_none() {
                self.current = Some(self.open_bar(start, start + every_ns, price_ticks));
            }
        } else if self.current.is_none() {
            self.current = Some(self.open_bar(ts_ns, ts_ns, price_ticks));
        }
        let bar = self.current.as_mut()?;
        bar.high_ticks = bar.high_ticks.max(price_ticks);
        bar.low_ticks = bar.low_ticks.min(price_ticks);
        bar.close_ticks = price_ticks;
        bar.volume_lots = bar.volume_lots.saturating_add(qty_lots);
        bar.trades += 1;
        let full = match self.spec {
            BarSpec::Time { .. } => false,
            BarSpec::Tick { trades } => bar.trades >= trades,
            BarSpec::Volume { lots } => bar.volume_lots >= lots,
            BarSpec::Dollar { notional } => {
                self.notional += price_ticks as i128 * qty_lots as i128;
                self.notional >= notional
            }
        };
        if !matches!(self.spec, BarSpec::Time { .. }) {
            bar.ts_close_ns = ts_ns;
        }
        if full {
            return self.take_closed();
        }
        closed
    }

    /// Time bars: closes the current bar if its window has ended by `now_ns` (for a timer
    /// when trades stop coming).
    pub fn close_until(&mut self, now_ns: u64) -> Option<Bar> {
        match (self.spec, self.current) {
            (BarSpec::Time { .. }, Some(bar)) if now_ns >= bar.ts_close_ns => self.take_closed(),
            _ => None,
        }
    }

    /// Takes the partial bar (not closed), leaving the builder empty.
    pub fn flush(&mut self) -> Option<Bar> {
        self.notional = 0;
        self.current.take()
    }

    fn take_closed(&mut self) -> Option<Bar> {
        self.notional = 0;
        self.current.take().map(|b| Bar { closed: true, ..b })
    }

    fn open_bar(&self, ts_open_ns: u64, ts_close_ns: u64, price_ticks: i64) -> Bar {
        Bar {
            instrument: self.instrument,
            venue: self.venue,
            ts_open_ns,
            ts_close_ns,
            open_ticks: price_ticks,
            high_ticks: price_ticks,
            low_ticks: price_ticks,
            close_ticks: price_ticks,
            volume_lots: 0,
            trades: 0,
            closed: false,
        }
    }
}

pub(crate) fn check_columns(ts_ns: &[u64], a: usize, b: usize) -> Result<(), BarsError> {
    if ts_ns.len() != a || ts_ns.len() != b {
        return Err(BarsError::LengthMismatch(format!(
            "{} timestamps, {a} and {b} values",
            ts_ns.len()
        )));
    }
    for (i, pair) in ts_ns.windows(2).enumerate() {
        if pair[1] < pair[0] {
            return Err(BarsError::Unordered {
                index: i + 1,
                ts_ns: pair[1],
                previous_ns: pair[0],
            });
        }
    }
    Ok(())
}

/// Bars of one instrument from trade columns (time-ordered). The last bar is included
/// and marked not closed when its window (or threshold) was not reached.
pub fn build_bars(
    spec: BarSpec,
    ts_ns: &[u64],
    price_ticks: &[i64],
    qty_lots: &[i64],
) -> Result<Vec<Bar>, BarsError> {
    check_columns(ts_ns, price_ticks.len(), qty_lots.len())?;
    if let Some(index) = qty_lots.iter().position(|q| *q < 0) {
        return Err(BarsError::NegativeQuantity {
            index,
            qty_lots: qty_lots[index],
        });
    }
    let mut builder = BarBuilder::new(spec, 0, 0)?;
    let mut bars = Vec::new();
    for i in 0..ts_ns.len() {
        bars.extend(builder.update(ts_ns[i], price_ticks[i], qty_lots[i]));
    }
    bars.extend(builder.flush());
    Ok(bars)
}

/// Bars of a higher timeframe from lower ones (time-ordered by open time): open of the
/// first, highest high, lowest low, close of the last, volumes and trade counts summed.
pub fn resample_bars(bars: &[Bar], every_ns: u64, offset_ns: u64) -> Result<Vec<Bar>, BarsError> {
    BarSpec::Time {
        every_ns,
        offset_ns,
    }
    .validate()?;
    let opens: Vec<u64> = bars.iter().map(|b| b.ts_open_ns).collect();
    check_columns(&opens, bars.len(), bars.len())?;
    let mut out: Vec<Bar> = Vec::new();
    for b in bars {
        let start = BarSpec::window_start(every_ns, offset_ns, b.ts_open_ns);
        match out.last_mut() {
            Some(cur) if cur.ts_open_ns == start => {
                cur.high_ticks = cur.high_ticks.max(b.high_ticks);
                cur.low_ticks = cur.low_ticks.min(b.low_ticks);
                cur.close_ticks = b.close_ticks;
                cur.volume_lots = cur.volume_lots.saturating_add(b.volume_lots);
                cur.trades += b.trades;
                cur.closed = b.closed;
            }
            _ => out.push(Bar {
                ts_open_ns: start,
                ts_close_ns: start + every_ns,
                ..*b
            }),
        }
    }
    Ok(out)
}

/// What live bars follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarSource {
    /// Trade events: price, quantity, count.
    Trades,
    /// Quote events (a bid and an ask event per quote, the ask ending the message): the
    /// quote's bid, ask or mid; volume 0, `trades` counts quotes. Time bars only.
    Quotes(QuotePrice),
}

/// Live bars for many instruments from trade or quote events: feed it what comes off the
/// bus and publish the bar runs it returns (`Bar::to_events`).
#[derive(Debug, Clone)]
pub struct InstrumentBars {
    spec: BarSpec,
    source: BarSource,
    builders: HashMap<u32, BarBuilder>,
    /// Quotes: each instrument's latest (bid, ask) ticks, 0 until seen.
    tops: HashMap<u32, (i64, i64)>,
    skipped_quotes: u64,
}

impl InstrumentBars {
    /// Bars of trades.
    pub fn new(spec: BarSpec) -> Result<Self, BarsError> {
        Ok(InstrumentBars {
            spec: spec.validate()?,
            source: BarSource::Trades,
            builders: HashMap::new(),
            tops: HashMap::new(),
            skipped_quotes: 0,
        })
    }

    /// Time bars of quotes, following `price` (a mid is carried in half ticks, as
    /// [`build_quote_bars`](super::build_quote_bars) does, so it stays exact).
    pub fn from_quotes(
        every_ns: u64,
        offset_ns: u64,
        price: QuotePrice,
    ) -> Result<Self, BarsError> {
        let mut bars = InstrumentBars::new(BarSpec::Time {
            every_ns,
            offset_ns,
        })?;
        bars.source = BarSource::Quotes(price);
        Ok(bars)
    }

    pub fn source(&self) -> BarSource {
        self.source
    }

    /// Whether bar prices are half ticks (quote mids).
    pub fn half_ticks(&self) -> bool {
        self.source == BarSource::Quotes(QuotePrice::Mid)
    }

    /// Quotes left out: crossed (ask below bid) or with a mid beyond 64 bits. A live feed
    /// goes on; the batch builder refuses them instead.
    pub fn skipped_quotes(&self) -> u64 {
        self.skipped_quotes
    }

    /// Feeds every event of `events` that the bars follow (others are ignored); appends
    /// the bars closed.
    pub fn on_events(&mut self, events: &[Event], closed: &mut Vec<Bar>) {
        let spec = self.spec;
        for e in events {
            let (price_ticks, qty_lots) = match self.source {
                BarSource::Trades if e.kind == EventKind::Trade as u8 => {
                    (e.price_ticks, e.qty_lots)
                }
                BarSource::Quotes(price) if e.kind == EventKind::Quote as u8 => {
                    let top = self.tops.entry(e.instrument).or_insert((0, 0));
                    match e.side {
                        s if s == Side::Buy as u8 => top.0 = e.price_ticks,
                        s if s == Side::Sell as u8 => top.1 = e.price_ticks,
                        _ => continue,
                    }
                    // One quote is a bid and an ask event; the message's last event ends it.
                    if e.flags & flags::LAST_IN_BATCH == 0 || top.0 == 0 || top.1 == 0 {
                        continue;
                    }
                    match price.of(0, top.0, top.1) {
                        Ok(px) => (px, 0),
                        Err(_) => {
                            self.skipped_quotes += 1;
                            continue;
                        }
                    }
                }
                _ => continue,
            };
            let builder = self
                .builders
                .entry(e.instrument)
                .or_insert_with(|| BarBuilder {
                    spec,
                    instrument: e.instrument,
                    venue: e.venue,
                    current: None,
                    notional: 0,
                });
            closed.extend(builder.update(e.ts_event_ns, price_ticks, qty_lots));
        }
    }

    /// Closes every time bar whose window ended by `now_ns`.
    pub fn close_until(&mut self, now_ns: u64, closed: &mut Vec<Bar>) {
        let mut keys: Vec<u32> = self.builders.keys().copied().collect();
        keys.sort_unstable();
        for k in keys {
            if let Some(b) = self.builders.get_mut(&k) {
                closed.extend(b.close_until(now_ns));
            }
        }
    }

    /// The partial bar of each instrument, in instrument order.
    pub fn partial(&self) -> Vec<Bar> {
        let mut out: Vec<Bar> = self.builders.values().filter_map(|b| b.current()).collect();
        out.sort_by_key(|b| b.instrument);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn time_bars_group_left_closed_windows_and_skip_empty_ones() {
        let ts = [0, S / 2, S, 3 * S + 1, 3 * S + 2];
        let px = [10, 12, 11, 9, 13];
        let qty = [1, 2, 3, 4, 5];
        let bars = build_bars(
            BarSpec::Time {
                every_ns: S,
                offset_ns: 0,
            },
            &ts,
            &px,
            &qty,
        )
        .unwrap();
        let ohlcv: Vec<_> = bars
            .iter()
            .map(|b| {
                (
                    b.ts_open_ns,
                    b.open_ticks,
                    b.high_ticks,
                    b.low_ticks,
                    b.close_ticks,
                    b.volume_lots,
                    b.trades,
                )
            })
            .collect();
        assert_eq!(
            ohlcv,
            vec![
                (0, 10, 12, 10, 12, 3, 2),
                (S, 11, 11, 11, 11, 3, 1),
                (3 * S, 9, 13, 9, 13, 9, 2)
            ]
        );
        assert_eq!(
            bars.iter().map(|b| b.closed).collect::<Vec<_>>(),
            vec![true, true, false]
        );
        assert_eq!(bars[0].ts_close_ns, S);
    }

    #[test]
    fn threshold_bars_close_on_the_trade_that_reaches_it() {
        let ts = [1, 2, 3, 4, 5];
        let px = [10, 20, 30, 40, 50];
        let qty = [1, 1, 5, 1, 1];
        let tick = build_bars(BarSpec::Tick { trades: 2 }, &ts, &px, &qty).unwrap();
        assert_eq!(
            tick.iter()
                .map(|b| (b.open_ticks, b.close_ticks, b.trades))
                .collect::<Vec<_>>(),
            vec![(10, 20, 2), (30, 40, 2), (50, 50, 1)]
        );
        let vol = build_bars(BarSpec::Volume { lots: 3 }, &ts, &px, &qty).unwrap();
        assert_eq!(
            vol.iter()
                .map(|b| (b.volume_lots, b.ts_open_ns, b.ts_close_ns))
                .collect::<Vec<_>>(),
            vec![(7, 1, 3), (2, 4, 5)]
        );
        let dollar = build_bars(BarSpec::Dollar { notional: 100 }, &ts, &px, &qty).unwrap();
        // 10 + 20 + 150 reaches 100 at the third trade; 40 + 50 = 90 stays open.
        assert_eq!(
            dollar
                .iter()
                .map(|b| (b.trades, b.closed))
                .collect::<Vec<_>>(),
            vec![(3, true), (2, false)]
        );
    }

    #[test]
    fn resampling_aggregates_lower_timeframe_bars() {
        let ts: Vec<u64> = (0..6).map(|i| i * 60 * S).collect();
        let px = [5, 7, 6, 8, 4, 9];
        let qty = [1; 6];
        let minutes = build_bars(
            BarSpec::Time {
                every_ns: 60 * S,
                offset_ns: 0,
            },
            &ts,
            &px,
            &qty,
        )
        .unwrap();
        let three = resample_bars(&minutes, 180 * S, 0).unwrap();
        assert_eq!(
            three
                .iter()
                .map(|b| (
                    b.open_ticks,
                    b.high_ticks,
                    b.low_ticks,
                    b.close_ticks,
                    b.volume_lots
                ))
                .collect::<Vec<_>>(),
            vec![(5, 7, 5, 6, 3), (8, 9, 4, 9, 3)]
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(BarSpec::Tick { trades: 0 }.validate().is_err());
        assert!(BarSpec::Time {
            every_ns: S,
            offset_ns: S
        }
        .validate()
        .is_err());
        assert!(matches!(
            build_bars(BarSpec::Tick { trades: 1 }, &[2, 1], &[1, 1], &[1, 1]),
            Err(BarsError::Unordered { index: 1, .. })
        ));
        assert!(matches!(
            build_bars(BarSpec::Tick { trades: 1 }, &[1], &[1, 1], &[1]),
            Err(BarsError::LengthMismatch(_))
        ));
        assert!(matches!(
            build_bars(BarSpec::Tick { trades: 1 }, &[1], &[1], &[-1]),
            Err(BarsError::NegativeQuantity { .. })
        ));
    }

    #[test]
    fn live_bars_per_instrument_from_trade_events() {
        let trade = |instrument, ts, px| Event {
            kind: EventKind::Trade as u8,
            instrument,
            ts_event_ns: ts,
            price_ticks: px,
            qty_lots: 1,
            ..Event::default()
        };
        let mut live = InstrumentBars::new(BarSpec::Time {
            every_ns: S,
            offset_ns: 0,
        })
        .unwrap();
        let mut closed = vec![];
        let quote = Event {
            kind: EventKind::Quote as u8,
            ..Event::default()
        };
        live.on_events(
            &[trade(1, 0, 5), trade(2, 10, 50), quote, trade(1, S, 6)],
            &mut closed,
        );
        assert_eq!(
            closed
                .iter()
                .map(|b| (b.instrument, b.close_ticks))
                .collect::<Vec<_>>(),
            vec![(1, 5)]
        );
        live.close_until(2 * S, &mut closed);
        assert_eq!(
            closed
                .iter()
                .map(|b| (b.instrument, b.close_ticks))
                .collect::<Vec<_>>(),
            vec![(1, 5), (1, 6), (2, 50)]
        );
        assert!(live.partial().is_empty());
    }

    /// One quote as the decoders publish it: a bid event, then the ask ending the message.
    fn quote_events(instrument: u32, ts: u64, bid: i64, ask: i64) -> [Event; 2] {
        let bid = Event {
            ts_event_ns: ts,
            instrument,
            kind: EventKind::Quote as u8,
            side: Side::Buy as u8,
            price_ticks: bid,
            ..Event::default()
        };
        let ask = Event {
            side: Side::Sell as u8,
            price_ticks: ask,
            flags: flags::LAST_IN_BATCH,
            ..bid
        };
        [bid, ask]
    }

    #[test]
    fn live_quote_bars_equal_the_batch_quote_bars_whatever_the_batches() {
        let ts: Vec<u64> = (0..500u64).map(|i| i * S / 7).collect();
        let bid: Vec<i64> = (0..500i64).map(|i| 1_000 + (i * 37 % 23) - 11).collect();
        let ask: Vec<i64> = bid.iter().zip(0..).map(|(b, i)| b + 1 + i % 3).collect();
        let events: Vec<Event> = (0..500)
            .flat_map(|i| quote_events(3, ts[i], bid[i], ask[i]))
            .collect();
        for price in [QuotePrice::Mid, QuotePrice::Bid, QuotePrice::Ask] {
            let batch = super::super::build_quote_bars(S, 0, &ts, &bid, &ask, price).unwrap();
            let mut live = InstrumentBars::from_quotes(S, 0, price).unwrap();
            assert_eq!(live.half_ticks(), price == QuotePrice::Mid);
            let mut closed = vec![];
            for chunk in events.chunks(33) {
                live.on_events(chunk, &mut closed);
            }
            let partial = live.partial();
            let ohlc = |b: &Bar| {
                (
                    b.ts_open_ns,
                    b.open_ticks,
                    b.high_ticks,
                    b.low_ticks,
                    b.close_ticks,
                    b.trades,
                )
            };
            let streamed: Vec<_> = closed.iter().chain(&partial).map(ohlc).collect();
            assert_eq!(
                streamed,
                batch.iter().map(ohlc).collect::<Vec<_>>(),
                "{price:?}"
            );
        }
    }

    #[test]
    fn a_crossed_live_quote_is_skipped_and_counted() {
        let mut live = InstrumentBars::from_quotes(S, 0, QuotePrice::Mid).unwrap();
        let mut closed = vec![];
        let mut events = quote_events(0, 1, 100, 102).to_vec();
        events.extend(quote_events(0, 2, 105, 104)); // crossed: not one book's top
        events.extend(quote_events(0, 3, 101, 103));
        live.on_events(&events, &mut closed);
        assert_eq!(live.skipped_quotes(), 1);
        let [b] = live.partial()[..] else {
            panic!("one open bar")
        };
        assert_eq!(
            (b.open_ticks, b.high_ticks, b.close_ticks, b.trades),
            (202, 204, 204, 2)
        );
        // Trades do not feed quote bars; quotes do not feed trade bars.
        let trade = Event {
            kind: EventKind::Trade as u8,
            ts_event_ns: 4,
            price_ticks: 500,
            qty_lots: 1,
            ..Event::default()
        };
        live.on_events(&[trade], &mut closed);
        assert_eq!(live.partial()[0].trades, 2);
        assert!(InstrumentBars::from_quotes(0, 0, QuotePrice::Bid).is_err());
    }
}
