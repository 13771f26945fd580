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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
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

/// Everything one instrument needs: a bar builder per timeframe, the series, the edge.
struct InstrumentState {
    builders: Vec<(u64, BarBuilder)>,
    series: Vec<SeriesState>,
    was_firing: bool,
}

/// Evaluates one signal for every instrument it sees trades of.
pub struct SignalEngine {
    spec: SignalSpec,
    /// Distinct series of the rules, in first-use order; rules refer to them by index.
    series: Vec<Series>,
    rule_refs: Vec<(usize, Option<usize>)>,
    instruments: HashMap<u32, InstrumentState>,
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
    /// f64 bits, `qty_lots` = rules true, `side` = the spec's side), all stamped with the
    /// closing bar's end time and `seq` = the signal id.
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
                feed(&mut state.series, *tf, &bar, scale);
                closed_at =
                    Some(closed_at.map_or(bar.ts_close_ns, |t: u64| t.max(bar.ts_close_ns)));
            }
        }
        let Some(at) = closed_at else { return };
        let values: Vec<f64> = state.series.iter().map(|s| s.value).collect();
        let outcomes: Vec<(bool, f64, f64)> = self
            .spec
            .rules
            .iter()
            .zip(&self.rule_refs)
            .map(|(rule, (l, r))| {
                let left = values[*l];
                let right = match (rule.right, r) {
                    (Operand::Value(v), _) => v,
                    (_, Some(i)) => values[*i],
                    _ => f64::NAN,
                };
                let holds = match rule.op {
                    Op::Lt => left < right,
                    Op::Le => left <= right,
                    Op::Gt => left > right,
                    Op::Ge => left >= right,
                };
                (holds, left, right)
            })
            .collect();
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
            return;
        }
        let template = Event {
            ts_event_ns: at,
            ts_recv_ns: ts_ns,
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

fn feed(series: &mut [SeriesState], timeframe_ns: u64, bar: &Bar, scale: f64) {
    let price = |ticks: i64| ticks as f64 * scale;
    let input = ta::Bar {
        open: price(bar.open_ticks),
        high: price(bar.high_ticks),
        low: price(bar.low_ticks),
        close: price(bar.close_ticks),
        volume: bar.volume_lots as f64,
    };
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
}
