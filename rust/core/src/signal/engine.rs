use std::collections::HashMap;

use thiserror::Error;

use crate::bars::{BarBuilder, BarSpec};
use crate::model::{flags, Bar, Event, EventKind, Side};
use crate::ta::stream::{self, Indicator};
use crate::ta::{self, TaError};

/// What a series measures on its timeframe's bars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Source {
    Close,
    Sma(usize),
    Ema(usize),
    Wma(usize),
    Rsi(usize),
    Roc(usize),
    Mom(usize),
    Atr(usize),
    Natr(usize),
    Adx(usize),
    Cci(usize),
    Willr(usize),
}

/// An indicator on a timeframe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Series {
    pub source: Source,
    pub timeframe_ns: u64,
}

/// A comparison of two values, as rules and scanner filters write it; a NaN on either
/// side never holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    #[inline]
    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Op::Lt => left < right,
            Op::Le => left <= right,
            Op::Gt => left > right,
            Op::Ge => left >= right,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Operand {
    Series(Series),
    Value(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub left: Series,
    pub op: Op,
    pub right: Operand,
    /// For [`Fusion::Weighted`].
    pub weight: f64,
}

/// How rule outcomes combine into the signal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    All,
    Any,
    /// At least this many rules true.
    Votes(usize),
    /// Sum of the weights of the true rules over the sum of all weights (the confluence
    /// score) at least this threshold.
    Weighted(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SignalSpec {
    /// Carried in the events' `seq`, to tell signals apart on the bus.
    pub signal_id: u64,
    pub rules: Vec<Rule>,
    pub fusion: Fusion,
    /// The side a fired signal suggests (in the summary event's `side`).
    pub side: Side,
    /// Price of one tick: indicators and constants are in prices, bars in ticks.
    pub price_scale: f64,
}

/// The `aux` of the summary event closing a signal run (rule events carry the rule index).
pub const SUMMARY_AUX: i64 = -1;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum SignalError {
    #[error("a signal needs at least one rule")]
    NoRules,
    #[error("rule {rule}: timeframe must be positive")]
    ZeroTimeframe { rule: usize },
    #[error("rule {rule}: constant must be finite, got {value}")]
    NonFinite { rule: usize, value: f64 },
    #[error("rule {rule}: weight must be finite and >= 0, got {value}")]
    BadWeight { rule: usize, value: f64 },
    #[error("votes must be between 1 and the number of rules ({rules}), got {votes}")]
    BadVotes { votes: usize, rules: usize },
    #[error("weighted threshold must be in (0, 1], got {0}")]
    BadThreshold(f64),
    #[error("price_scale must be finite and positive, got {0}")]
    BadScale(f64),
    #[error("rule {rule}: {source}")]
    Indicator { rule: usize, source: TaError },
    #[error("bar timeframe must be positive")]
    ZeroBarTimeframe,
    #[error("the data's bar timeframe is not known yet: set it before adding signals")]
    UnknownBarTimeframe,
    #[error("signal id {0} is taken: give each signal its own id")]
    DuplicateId(u64),
    #[error(
        "rule {rule}: timeframe {} is finer than the data's {} bars (bars cannot be split)",
        human_ns(*timeframe_ns), human_ns(*bar_ns)
    )]
    FinerThanBars {
        rule: usize,
        timeframe_ns: u64,
        bar_ns: u64,
    },
    #[error(
        "rule {rule}: timeframe {} is not a whole number of the data's {} bars",
        human_ns(*timeframe_ns), human_ns(*bar_ns)
    )]
    NotMultipleOfBars {
        rule: usize,
        timeframe_ns: u64,
        bar_ns: u64,
    },
}

impl SignalError {
    /// The index of the rule at fault, when one rule is.
    pub fn rule(&self) -> Option<usize> {
        match self {
            SignalError::ZeroTimeframe { rule }
            | SignalError::NonFinite { rule, .. }
            | SignalError::BadWeight { rule, .. }
            | SignalError::Indicator { rule, .. }
            | SignalError::FinerThanBars { rule, .. }
            | SignalError::NotMultipleOfBars { rule, .. } => Some(*rule),
            _ => None,
        }
    }
}

/// A duration as the rule syntax writes it (`30s`, `5m`, `1h`, `1d`), else in ns.
fn human_ns(ns: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
    ];
    for (unit, name) in UNITS {
        if ns >= unit && ns % unit == 0 {
            return format!("{}{name}", ns / unit);
        }
    }
    format!("{ns}ns")
}

enum Live {
    Close,
    Real(Box<dyn Indicator<Input = f64, Output = f64> + Send>),
    Bars(Box<dyn Indicator<Input = ta::Bar, Output = f64> + Send>),
}

fn live(source: Source) -> Result<Live, TaError> {
    Ok(match source {
        Source::Close => Live::Close,
        Source::Sma(p) => Live::Real(Box::new(stream::Sma::new(p)?)),
        Source::Ema(p) => Live::Real(Box::new(stream::Ema::new(p)?)),
        Source::Wma(p) => Live::Real(Box::new(stream::Wma::new(p)?)),
        Source::Rsi(p) => Live::Real(Box::new(stream::Rsi::new(p)?)),
        Source::Roc(p) => Live::Real(Box::new(stream::Roc::new(p)?)),
        Source::Mom(p) => Live::Real(Box::new(stream::Mom::new(p)?)),
        Source::Atr(p) => Live::Bars(Box::new(stream::Atr::new(p)?)),
        Source::Natr(p) => Live::Bars(Box::new(stream::Natr::new(p)?)),
        Source::Adx(p) => Live::Bars(Box::new(stream::Adx::new(p)?)),
        Source::Cci(p) => Live::Bars(Box::new(stream::Cci::new(p)?)),
        Source::Willr(p) => Live::Bars(Box::new(stream::Willr::new(p)?)),
    })
}

/// One distinct series of one instrument and its latest value.
struct SeriesState {
    series: Series,
    live: Live,
    value: f64,
}

/// A timeframe's bar being built from shorter bars: its window start and the OHLCV so far.
type Partial = Option<(u64, ta::Bar)>;

/// Everything one instrument needs: a bar builder per timeframe (trade input) or a partial
/// bar per timeframe (bar input), the series, the edge.
struct InstrumentState {
    builders: Vec<(u64, BarBuilder)>,
    partials: Vec<(u64, Partial)>,
    series: Vec<SeriesState>,
    was_firing: bool,
}

/// Evaluates one signal for every instrument it sees trades (or bars) of.
pub struct SignalEngine {
    spec: SignalSpec,
    /// Distinct series of the rules, in first-use order; rules refer to them by index.
    series: Vec<Series>,
    rule_refs: Vec<(usize, Option<usize>)>,
    instruments: HashMap<u32, InstrumentState>,
    /// Each rule's (holds, left, right) of the latest evaluation.
    outcomes: Vec<(bool, f64, f64)>,
}

impl SignalEngine {
    pub fn new(spec: SignalSpec) -> Result<SignalEngine, SignalError> {
        validate(&spec)?;
        let mut series: Vec<Series> = Vec::new();
        let mut index_of = |s: Series| match series.iter().position(|x| *x == s) {
            Some(i) => i,
            None => {
                series.push(s);
                series.len() - 1
            }
        };
        let mut rule_refs = Vec::new();
        for r in &spec.rules {
            let left = index_of(r.left);
            let right = match r.right {
                Operand::Series(s) => Some(index_of(s)),
                Operand::Value(_) => None,
            };
            rule_refs.push((left, right));
        }
        for (i, r) in spec.rules.iter().enumerate() {
            let sides = [
                Some(r.left),
                match r.right {
                    Operand::Series(s) => Some(s),
                    Operand::Value(_) => None,
                },
            ];
            for s in sides.into_iter().flatten() {
                live(s.source).map_err(|source| SignalError::Indicator { rule: i, source })?;
            }
        }
        Ok(SignalEngine {
            spec,
            series,
            rule_refs,
            instruments: HashMap::new(),
            outcomes: Vec::new(),
        })
    }

    pub fn spec(&self) -> &SignalSpec {
        &self.spec
    }

    fn state(&mut self, instrument: u32) -> &mut InstrumentState {
        let series = &self.series;
        self.instruments.entry(instrument).or_insert_with(|| {
            let mut timeframes: Vec<u64> = series.iter().map(|s| s.timeframe_ns).collect();
            timeframes.sort_unstable();
            timeframes.dedup();
            InstrumentState {
                partials: timeframes.iter().map(|tf| (*tf, None)).collect(),
                builders: timeframes
                    .into_iter()
                    .filter_map(|tf| {
                        BarBuilder::new(
                            BarSpec::Time {
                                every_ns: tf,
                                offset_ns: 0,
                            },
                            instrument,
                            0,
                        )
                        .ok()
                        .map(|b| (tf, b))
                    })
                    .collect(),
                series: series
                    .iter()
                    .filter_map(|s| {
                        live(s.source).ok().map(|l| SeriesState {
                            series: *s,
                            live: l,
                            value: f64::NAN,
                        })
                    })
                    .collect(),
                was_firing: false,
            }
        })
    }

    /// Feeds one trade. When bars closed and the fused condition has just become true,
    /// appends the signal run to `out`: one event per rule (`aux` = rule index, `id` = the
    /// left value's f64 bits, `qty_lots` = the right value's f64 bits, `side` 1 when the
    /// rule holds) and a summary (`aux` = [`SUMMARY_AUX`], `id` = the confluence score's
    /// f64 bits, `qty_lots` = rules true, `side` = the spec's side, `price_ticks` = the
    /// trade's price), all stamped with the closing bar's end time and `seq` = the signal
    /// id.
    pub fn on_trade(
        &mut self,
        instrument: u32,
        venue: u8,
        ts_ns: u64,
        price_ticks: i64,
        qty_lots: i64,
        out: &mut Vec<Event>,
    ) {
        let scale = self.spec.price_scale;
        let state = self.state(instrument);
        let mut closed_at: Option<u64> = None;
        for (tf, builder) in &mut state.builders {
            if let Some(bar) = builder.update(ts_ns, price_ticks, qty_lots) {
                feed(&mut state.series, *tf, &ticks_to_prices(&bar, scale));
                closed_at =
                    Some(closed_at.map_or(bar.ts_close_ns, |t: u64| t.max(bar.ts_close_ns)));
            }
        }
        let Some(at) = closed_at else { return };
        self.evaluate(instrument, venue, at, ts_ns, price_ticks, out);
    }

    /// Checks that bars of `bar_ns` can feed every rule: each rule timeframe must be a
    /// whole number of them (a bar cannot be split into shorter ones).
    pub fn check_bar_timeframe(&self, bar_ns: u64) -> Result<(), SignalError> {
        if bar_ns == 0 {
            return Err(SignalError::ZeroBarTimeframe);
        }
        for (rule, r) in self.spec.rules.iter().enumerate() {
            let right = match r.right {
                Operand::Series(s) => Some(s.timeframe_ns),
                Operand::Value(_) => None,
            };
            for timeframe_ns in std::iter::once(r.left.timeframe_ns).chain(right) {
                if timeframe_ns < bar_ns {
                    return Err(SignalError::FinerThanBars {
                        rule,
                        timeframe_ns,
                        bar_ns,
                    });
                }
                if timeframe_ns % bar_ns != 0 {
                    return Err(SignalError::NotMultipleOfBars {
                        rule,
                        timeframe_ns,
                        bar_ns,
                    });
                }
            }
        }
        Ok(())
    }

    /// Feeds one bar of the data's timeframe `bar_ns` (prices as floats), opened at
    /// `ts_open_ns`; the caller has checked `bar_ns` with
    /// [`check_bar_timeframe`](Self::check_bar_timeframe). Each rule timeframe builds its
    /// bars from these, aligned to the epoch as trade bars are; a timeframe's bar closes
    /// with the input bar that ends its window (or, after a gap in the data, when a bar of
    /// a later window arrives). Then the rules are evaluated as in
    /// [`on_trade`](Self::on_trade); the run is stamped with the window's end and carries
    /// the input bar's close (in ticks) in the summary's `price_ticks`.
    pub fn on_bar(
        &mut self,
        instrument: u32,
        venue: u8,
        ts_open_ns: u64,
        bar_ns: u64,
        bar: ta::Bar,
        out: &mut Vec<Event>,
    ) {
        let scale = self.spec.price_scale;
        let state = self.state(instrument);
        let end_ns = ts_open_ns.saturating_add(bar_ns);
        let mut closed_at: Option<u64> = None;
        for (tf, partial) in &mut state.partials {
            let start = ts_open_ns / *tf * *tf;
            if let Some((open, agg)) = partial.filter(|(open, _)| *open != start) {
                // A gap: the window ended without its last bar; close it as it is.
                feed(&mut state.series, *tf, &agg);
                closed_at = Some(closed_at.map_or(open + *tf, |t: u64| t.max(open + *tf)));
                *partial = None;
            }
            let merged = match *partial {
                None => bar,
                Some((_, agg)) => ta::Bar {
                    open: agg.open,
                    high: agg.high.max(bar.high),
                    low: agg.low.min(bar.low),
                    close: bar.close,
                    volume: agg.volume + bar.volume,
                },
            };
            if end_ns >= start.saturating_add(*tf) {
                feed(&mut state.series, *tf, &merged);
                let at = start.saturating_add(*tf);
                closed_at = Some(closed_at.map_or(at, |t: u64| t.max(at)));
                *partial = None;
            } else {
                *partial = Some((start, merged));
            }
        }
        let Some(at) = closed_at else { return };
        let close_ticks = (bar.close / scale).round() as i64;
        self.evaluate(instrument, venue, at, end_ns, close_ticks, out);
    }

    /// Evaluates the rules on the latest values and appends the run when the fused
    /// condition has just become true (the run's layout is documented on `on_trade`).
    fn evaluate(
        &mut self,
        instrument: u32,
        venue: u8,
        at: u64,
        recv_ns: u64,
        price_ticks: i64,
        out: &mut Vec<Event>,
    ) {
        let Some(state) = self.instruments.get(&instrument) else {
            return;
        };
        // Reused across evaluations: a bar backtest evaluates on every bar.
        let mut outcomes = std::mem::take(&mut self.outcomes);
        outcomes.clear();
        let value = |i: usize| state.series.get(i).map_or(f64::NAN, |s| s.value);
        outcomes.extend(
            self.spec
                .rules
                .iter()
                .zip(&self.rule_refs)
                .map(|(rule, (l, r))| {
                    let left = value(*l);
                    let right = match (rule.right, r) {
                        (Operand::Value(v), _) => v,
                        (_, Some(i)) => value(*i),
                        _ => f64::NAN,
                    };
                    let holds = rule.op.holds(left, right);
                    (holds, left, right)
                }),
        );
        let true_count = outcomes.iter().filter(|o| o.0).count();
        let total_weight: f64 = self.spec.rules.iter().map(|r| r.weight).sum();
        let score = if total_weight > 0.0 {
            self.spec
                .rules
                .iter()
                .zip(&outcomes)
                .filter(|(_, o)| o.0)
                .map(|(r, _)| r.weight)
                .sum::<f64>()
                / total_weight
        } else {
            true_count as f64 / self.spec.rules.len() as f64
        };
        let firing = match self.spec.fusion {
            Fusion::All => true_count == outcomes.len(),
            Fusion::Any => true_count > 0,
            Fusion::Votes(k) => true_count >= k,
            Fusion::Weighted(t) => score >= t,
        };
        let state = self
            .instruments
            .get_mut(&instrument)
            .map(|s| std::mem::replace(&mut s.was_firing, firing));
        if !firing || state == Some(true) {
            self.outcomes = outcomes;
            return;
        }
        let template = Event {
            ts_event_ns: at,
            ts_recv_ns: recv_ns,
            seq: self.spec.signal_id,
            price_ticks,
            instrument,
            kind: EventKind::Signal as u8,
            venue,
            ..Event::default()
        };
        for (i, (holds, left, right)) in outcomes.iter().enumerate() {
            out.push(Event {
                aux: i as i64,
                id: left.to_bits(),
                qty_lots: right.to_bits() as i64,
                side: if *holds {
                    Side::Buy as u8
                } else {
                    Side::None as u8
                },
                ..template
            });
        }
        out.push(Event {
            aux: SUMMARY_AUX,
            id: score.to_bits(),
            qty_lots: true_count as i64,
            side: self.spec.side as u8,
            flags: flags::LAST_IN_BATCH,
            ..template
        });
        self.outcomes = outcomes;
    }

    /// Feeds every trade event of a batch (others are ignored).
    pub fn on_events(&mut self, events: &[Event], out: &mut Vec<Event>) {
        for e in events.iter().filter(|e| e.kind == EventKind::Trade as u8) {
            self.on_trade(
                e.instrument,
                e.venue,
                e.ts_event_ns,
                e.price_ticks,
                e.qty_lots,
                out,
            );
        }
    }
}

impl std::fmt::Debug for SignalEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalEngine")
            .field("spec", &self.spec)
            .field("instruments", &self.instruments.len())
            .finish()
    }
}

/// The signals one runner evaluates: every engine is fed the same input, and the runs
/// they fire on one input wait in [`fired`](Self::fired) until the next input.
#[derive(Debug, Default)]
pub struct SignalSet {
    engines: Vec<SignalEngine>,
    /// The timeframe of bar input (None: trade input).
    bar_ns: Option<u64>,
    fired: Vec<Event>,
    fired_count: u64,
}

impl SignalSet {
    pub fn new() -> SignalSet {
        SignalSet::default()
    }

    /// Bar input of `bar_ns` from now on; every signal already added must fit it.
    pub fn set_bar_timeframe(&mut self, bar_ns: u64) -> Result<(), SignalError> {
        if bar_ns == 0 {
            return Err(SignalError::ZeroBarTimeframe);
        }
        for e in &self.engines {
            e.check_bar_timeframe(bar_ns)?;
        }
        self.bar_ns = Some(bar_ns);
        Ok(())
    }

    pub fn bar_timeframe(&self) -> Option<u64> {
        self.bar_ns
    }

    /// Adds a signal; its id must be new, and with bar input its rule timeframes must be
    /// whole numbers of bars.
    pub fn add(&mut self, engine: SignalEngine) -> Result<(), SignalError> {
        let id = engine.spec().signal_id;
        if self.engines.iter().any(|e| e.spec().signal_id == id) {
            return Err(SignalError::DuplicateId(id));
        }
        if let Some(bar_ns) = self.bar_ns {
            engine.check_bar_timeframe(bar_ns)?;
        }
        self.engines.push(engine);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.engines.is_empty()
    }

    pub fn len(&self) -> usize {
        self.engines.len()
    }

    /// Feeds one trade to every signal; true when any fired.
    pub fn on_trade(
        &mut self,
        instrument: u32,
        venue: u8,
        ts_ns: u64,
        price_ticks: i64,
        qty_lots: i64,
    ) -> bool {
        self.fired.clear();
        for e in &mut self.engines {
            e.on_trade(
                instrument,
                venue,
                ts_ns,
                price_ticks,
                qty_lots,
                &mut self.fired,
            );
        }
        self.count()
    }

    /// Feeds one bar to every signal; true when any fired. Needs the bar timeframe.
    pub fn on_bar(
        &mut self,
        instrument: u32,
        venue: u8,
        ts_open_ns: u64,
        bar: ta::Bar,
    ) -> Result<bool, SignalError> {
        self.fired.clear();
        if self.engines.is_empty() {
            return Ok(false);
        }
        let bar_ns = self.bar_ns.ok_or(SignalError::UnknownBarTimeframe)?;
        for e in &mut self.engines {
            e.on_bar(instrument, venue, ts_open_ns, bar_ns, bar, &mut self.fired);
        }
        Ok(self.count())
    }

    /// Forgets the runs of the latest input (when the next input is not for the signals).
    pub fn clear_fired(&mut self) {
        self.fired.clear();
    }

    fn count(&mut self) -> bool {
        let n = self.fired.iter().filter(|e| e.aux == SUMMARY_AUX).count() as u64;
        self.fired_count += n;
        n > 0
    }

    /// The runs fired by the latest input, in the order the signals were added.
    pub fn fired(&self) -> &[Event] {
        &self.fired
    }

    /// Signals fired since the start.
    pub fn fired_count(&self) -> u64 {
        self.fired_count
    }
}

fn ticks_to_prices(bar: &Bar, scale: f64) -> ta::Bar {
    let price = |ticks: i64| ticks as f64 * scale;
    ta::Bar {
        open: price(bar.open_ticks),
        high: price(bar.high_ticks),
        low: price(bar.low_ticks),
        close: price(bar.close_ticks),
        volume: bar.volume_lots as f64,
    }
}

fn feed(series: &mut [SeriesState], timeframe_ns: u64, input: &ta::Bar) {
    let input = *input;
    for s in series
        .iter_mut()
        .filter(|s| s.series.timeframe_ns == timeframe_ns)
    {
        s.value = match &mut s.live {
            Live::Close => input.close,
            Live::Real(ind) => ind.update(input.close),
            Live::Bars(ind) => ind.update(input),
        };
    }
}

fn validate(spec: &SignalSpec) -> Result<(), SignalError> {
    if spec.rules.is_empty() {
        return Err(SignalError::NoRules);
    }
    if !(spec.price_scale.is_finite() && spec.price_scale > 0.0) {
        return Err(SignalError::BadScale(spec.price_scale));
    }
    for (i, r) in spec.rules.iter().enumerate() {
        let right_tf = match r.right {
            Operand::Series(s) => Some(s.timeframe_ns),
            Operand::Value(v) if !v.is_finite() => {
                return Err(SignalError::NonFinite { rule: i, value: v })
            }
            Operand::Value(_) => None,
        };
        if r.left.timeframe_ns == 0 || right_tf == Some(0) {
            return Err(SignalError::ZeroTimeframe { rule: i });
        }
        if !(r.weight.is_finite() && r.weight >= 0.0) {
            return Err(SignalError::BadWeight {
                rule: i,
                value: r.weight,
            });
        }
    }
    match spec.fusion {
        Fusion::Votes(k) if k == 0 || k > spec.rules.len() => Err(SignalError::BadVotes {
            votes: k,
            rules: spec.rules.len(),
        }),
        Fusion::Weighted(t) if !(t > 0.0 && t <= 1.0) => Err(SignalError::BadThreshold(t)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000_000_000;

    fn close_rule(tf: u64, op: Op, value: f64) -> Rule {
        Rule {
            left: Series {
                source: Source::Close,
                timeframe_ns: tf,
            },
            op,
            right: Operand::Value(value),
            weight: 1.0,
        }
    }

    #[test]
    fn fires_on_the_rising_edge_with_rule_values() {
        let spec = SignalSpec {
            signal_id: 7,
            rules: vec![
                close_rule(MIN, Op::Gt, 10.0),
                close_rule(5 * MIN, Op::Gt, 10.0),
            ],
            fusion: Fusion::All,
            side: Side::Buy,
            price_scale: 1.0,
        };
        let mut engine = SignalEngine::new(spec).unwrap();
        let mut out = vec![];
        // Minute closes 9, 11, 12, 13, 14 | 15 (the 5-minute bar closes at 5 min).
        for (i, px) in [9, 11, 12, 13, 14, 15, 16].iter().enumerate() {
            engine.on_trade(0, 0, i as u64 * MIN, *px, 1, &mut out);
        }
        // The 1-minute rule holds from minute 2 on, the 5-minute rule only once the first
        // 5-minute bar (close 14) closes, at 5 min: one rising edge there.
        assert_eq!(out.len(), 3);
        let summary = out[2];
        assert_eq!(
            (summary.aux, summary.ts_event_ns, summary.seq),
            (SUMMARY_AUX, 5 * MIN, 7)
        );
        assert_eq!(f64::from_bits(summary.id), 1.0);
        assert_eq!(f64::from_bits(out[1].id), 14.0);
        assert_eq!(f64::from_bits(out[0].id), 14.0);
        assert_eq!(f64::from_bits(out[0].qty_lots as u64), 10.0);
        assert_eq!(summary.flags, flags::LAST_IN_BATCH);
    }

    #[test]
    fn votes_and_weights_fuse_rules() {
        let rules = [
            close_rule(MIN, Op::Gt, 0.0),
            close_rule(MIN, Op::Lt, 0.0),
            close_rule(MIN, Op::Ge, 5.0),
        ];
        let fire = |fusion, weights: [f64; 3]| {
            let rules = rules
                .iter()
                .zip(weights)
                .map(|(r, w)| Rule {
                    weight: w,
                    ..r.clone()
                })
                .collect();
            let spec = SignalSpec {
                signal_id: 1,
                rules,
                fusion,
                side: Side::Sell,
                price_scale: 1.0,
            };
            let mut engine = SignalEngine::new(spec).unwrap();
            let mut out = vec![];
            engine.on_trade(0, 0, 0, 5, 1, &mut out);
            engine.on_trade(0, 0, MIN, 5, 1, &mut out);
            out.last().map(|e| f64::from_bits(e.id))
        };
        assert_eq!(fire(Fusion::Votes(2), [1.0; 3]), Some(2.0 / 3.0));
        assert_eq!(fire(Fusion::Votes(3), [1.0; 3]), None);
        assert_eq!(fire(Fusion::Any, [1.0; 3]), Some(2.0 / 3.0));
        assert_eq!(fire(Fusion::Weighted(0.9), [3.0, 1.0, 6.0]), Some(0.9));
        assert_eq!(fire(Fusion::Weighted(0.95), [3.0, 1.0, 6.0]), None);
    }

    #[test]
    fn invalid_specs_say_what_is_wrong() {
        let ok = SignalSpec {
            signal_id: 1,
            rules: vec![close_rule(MIN, Op::Gt, 1.0)],
            fusion: Fusion::All,
            side: Side::Buy,
            price_scale: 0.01,
        };
        assert!(SignalEngine::new(ok.clone()).is_ok());
        assert_eq!(
            SignalEngine::new(SignalSpec {
                rules: vec![],
                ..ok.clone()
            })
            .err(),
            Some(SignalError::NoRules)
        );
        assert!(matches!(
            SignalEngine::new(SignalSpec {
                fusion: Fusion::Votes(2),
                ..ok.clone()
            }),
            Err(SignalError::BadVotes { .. })
        ));
        assert!(matches!(
            SignalEngine::new(SignalSpec {
                price_scale: f64::NAN,
                ..ok.clone()
            }),
            Err(SignalError::BadScale(_))
        ));
        let bad_period = Rule {
            left: Series {
                source: Source::Rsi(1),
                timeframe_ns: MIN,
            },
            ..close_rule(MIN, Op::Lt, 30.0)
        };
        assert!(matches!(
            SignalEngine::new(SignalSpec {
                rules: vec![bad_period],
                ..ok.clone()
            }),
            Err(SignalError::Indicator { rule: 0, .. })
        ));
        assert!(matches!(
            SignalEngine::new(SignalSpec {
                rules: vec![close_rule(0, Op::Lt, 1.0)],
                ..ok.clone()
            }),
            Err(SignalError::ZeroTimeframe { rule: 0 })
        ));
        assert!(matches!(
            SignalEngine::new(SignalSpec {
                rules: vec![close_rule(MIN, Op::Lt, f64::INFINITY)],
                ..ok
            }),
            Err(SignalError::NonFinite { .. })
        ));
    }

    fn rsi_spec(tf_left: u64, tf_right: u64) -> SignalSpec {
        SignalSpec {
            signal_id: 3,
            rules: vec![
                Rule {
                    left: Series {
                        source: Source::Rsi(3),
                        timeframe_ns: tf_left,
                    },
                    op: Op::Lt,
                    right: Operand::Value(45.0),
                    weight: 1.0,
                },
                Rule {
                    left: Series {
                        source: Source::Close,
                        timeframe_ns: tf_right,
                    },
                    op: Op::Gt,
                    right: Operand::Series(Series {
                        source: Source::Ema(2),
                        timeframe_ns: tf_right,
                    }),
                    weight: 1.0,
                },
            ],
            fusion: Fusion::Any,
            side: Side::Buy,
            price_scale: 1.0,
        }
    }

    #[test]
    fn bars_fire_as_the_same_bars_built_from_trades() {
        // A zig-zag with a drift: both rules flip many times.
        let closes: Vec<i64> = (0..240)
            .map(|i: i64| 1000 + (i * 37 % 23) * 3 - (i % 7) * 5 + i / 4)
            .collect();
        let (mut from_bars, mut from_trades) = (vec![], vec![]);
        let mut a = SignalEngine::new(rsi_spec(5 * MIN, 15 * MIN)).unwrap();
        let mut b = SignalEngine::new(rsi_spec(5 * MIN, 15 * MIN)).unwrap();
        a.check_bar_timeframe(MIN).unwrap();
        for (i, c) in closes.iter().enumerate() {
            let open = i as u64 * MIN;
            let px = *c as f64;
            a.on_bar(
                0,
                0,
                open,
                MIN,
                ta::Bar::new(px, px, px, px, 1.0),
                &mut from_bars,
            );
            b.on_trade(0, 0, open + MIN / 2, *c, 1, &mut from_trades);
        }
        let key = |e: &Event| (e.ts_event_ns, e.aux, e.id, e.qty_lots, e.side, e.seq);
        let bars: Vec<_> = from_bars.iter().map(key).collect();
        let trades: Vec<_> = from_trades.iter().map(key).collect();
        assert!(
            bars.len() > 10,
            "the series should fire often, got {}",
            bars.len()
        );
        // Trades close a window only with the next window's first trade: the bars' run
        // may have one more firing at the very end.
        assert_eq!(&bars[..trades.len()], &trades[..]);
        assert!(bars.len() - trades.len() <= 3);
    }

    #[test]
    fn a_gap_closes_the_window_when_a_later_bar_arrives() {
        let spec = SignalSpec {
            signal_id: 1,
            rules: vec![close_rule(5 * MIN, Op::Gt, 10.0)],
            fusion: Fusion::All,
            side: Side::Sell,
            price_scale: 0.5,
        };
        let mut e = SignalEngine::new(spec).unwrap();
        let mut out = vec![];
        for (open, px) in [(0, 9.0), (MIN, 12.0), (2 * MIN, 11.0), (7 * MIN, 8.0)] {
            e.on_bar(0, 2, open, MIN, ta::Bar::new(px, px, px, px, 1.0), &mut out);
            if open < 7 * MIN {
                assert!(out.is_empty());
            }
        }
        // Window [0, 5m) ends without its last two bars; its close is 11 > 10.
        let summary = out.last().unwrap();
        assert_eq!((summary.ts_event_ns, summary.aux), (5 * MIN, SUMMARY_AUX));
        assert_eq!(f64::from_bits(out[0].id), 11.0);
        assert_eq!((summary.side, summary.venue), (Side::Sell as u8, 2));
        // The run carries the input bar's close in ticks of 0.5.
        assert_eq!(summary.price_ticks, 16);
    }

    #[test]
    fn bar_timeframes_finer_or_not_whole_are_refused_naming_the_rule() {
        let e = SignalEngine::new(rsi_spec(5 * MIN, MIN / 2)).unwrap();
        let err = e.check_bar_timeframe(MIN).unwrap_err();
        assert_eq!(
            err,
            SignalError::FinerThanBars {
                rule: 1,
                timeframe_ns: MIN / 2,
                bar_ns: MIN
            }
        );
        assert_eq!(err.rule(), Some(1));
        assert_eq!(
            err.to_string(),
            "rule 1: timeframe 30s is finer than the data's 1m bars (bars cannot be split)"
        );
        let e = SignalEngine::new(rsi_spec(5 * MIN, 5 * MIN)).unwrap();
        assert!(matches!(
            e.check_bar_timeframe(2 * MIN),
            Err(SignalError::NotMultipleOfBars { rule: 0, .. })
        ));
        assert!(e.check_bar_timeframe(5 * MIN).is_ok());
        let mut set = SignalSet::new();
        set.add(SignalEngine::new(rsi_spec(5 * MIN, 5 * MIN)).unwrap())
            .unwrap();
        assert_eq!(
            set.add(SignalEngine::new(rsi_spec(MIN, MIN)).unwrap()),
            Err(SignalError::DuplicateId(3))
        );
        assert!(set.set_bar_timeframe(2 * MIN).is_err());
        assert_eq!(
            set.on_bar(0, 0, 0, ta::Bar::default()),
            Err(SignalError::UnknownBarTimeframe)
        );
    }
}
