//! Circuit breakers and the trading state they drive: drawdown from peak equity, daily
//! loss (with a configurable day boundary), volatility halt, venue-reject and error rates
//! (sliding windows), stale market data, and the kill switch.
//!
//! # State
//! The trading state is the most restrictive of the operator's state
//! ([`Breakers::set_state`]) and the action of every tripped breaker. Each change is
//! recorded as a [`StateChange`] (and bus [`Event`](crate::model::Event)) in an outbox the
//! caller drains.
//!
//! # The way back to ACTIVE
//! A tripped breaker stays tripped until [`Breakers::reset`] is called: nothing re-arms by
//! itself, so a halt is always acknowledged by a person or a supervising process. The
//! reset is refused, naming the breakers, while a condition still holds:
//! * drawdown: equity must be back at the peak it fell from (a new peak), or the reset
//!   must be asked with `rebase_peak = true`, which takes the current equity as the new
//!   peak (the operator accepts the loss);
//! * daily loss: refused until the next trading day starts (day start = UTC midnight +
//!   `day_start_offset_ns`), when the day's starting equity is re-based;
//! * stale data: refused while some watched reference price is still older than the limit.
//!
//! The kill switch, the volatility halt and the reject/error-rate breakers clear on reset
//! (their windows are emptied).

use super::limits::BreakerLimits;
use super::state::{StateChange, StateReason, TradingState};
use super::window::TimeWindow;

const DAY_NS: u64 = 86_400_000_000_000;

/// Price samples kept per instrument for the volatility halt. Within one window at most
/// this many distinct consecutive prices are remembered; with more, the oldest are
/// forgotten early, so the window is effectively shorter on very busy instruments.
pub const VOLATILITY_SAMPLES: usize = 64;

/// Why a reset was refused: the breakers whose condition still holds (a bit per
/// [`StateReason`], see [`Breakers::tripped_reasons`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reset refused: condition still holds for {reasons:?}")]
pub struct ResetRefused {
    pub reasons: Vec<StateReason>,
}

#[derive(Debug, Clone)]
struct PriceRing {
    ts_ns: [u64; VOLATILITY_SAMPLES],
    price_ticks: [i64; VOLATILITY_SAMPLES],
    start: usize,
    len: usize,
}

impl PriceRing {
    fn new() -> PriceRing {
        PriceRing {
            ts_ns: [0; VOLATILITY_SAMPLES],
            price_ticks: [0; VOLATILITY_SAMPLES],
            start: 0,
            len: 0,
        }
    }

    /// Adds a sample, forgets those older than the window, and returns the largest
    /// relative move (max - min) / min within it.
    fn push(&mut self, ts_ns: u64, price_ticks: i64, window_ns: u64) -> f64 {
        let n = VOLATILITY_SAMPLES;
        while self.len > 0 && ts_ns.saturating_sub(self.ts_ns[self.start]) >= window_ns {
            self.start = (self.start + 1) % n;
            self.len -= 1;
        }
        let last = (self.start + self.len + n - 1) % n;
        if self.len == 0 || self.price_ticks[last] != price_ticks {
            if self.len == n {
                self.start = (self.start + 1) % n;
                self.len -= 1;
            }
            let i = (self.start + self.len) % n;
            self.ts_ns[i] = ts_ns;
            self.price_ticks[i] = price_ticks;
            self.len += 1;
        } else {
            // Same price again: refresh its time so it stays in the window.
            self.ts_ns[last] = ts_ns;
        }
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for k in 0..self.len {
            let p = self.price_ticks[(self.start + k) % n];
            lo = lo.min(p);
            hi = hi.max(p);
        }
        if lo <= 0 {
            return 0.0;
        }
        (hi - lo) as f64 / lo as f64
    }
}

/// Breaker state of one engine.
#[derive(Debug, Clone)]
pub struct Breakers {
    limits: BreakerLimits,
    manual: TradingState,
    state: TradingState,
    /// Bits of tripped breakers (see [`StateReason`]).
    tripped: u16,
    peak_equity_quote: f64,
    /// The peak drawdown was measured from when it tripped.
    drawdown_peak_quote: f64,
    equity_quote: f64,
    day_index: Option<u64>,
    day_start_equity_quote: f64,
    prices: Vec<PriceRing>,
    rejects: TimeWindow,
    errors: TimeWindow,
    seq: u64,
    changes: Vec<StateChange>,
}

impl Breakers {
    pub fn new(limits: BreakerLimits, n_instruments: usize, equity_quote: f64) -> Breakers {
        let mut b = Breakers {
            limits,
            manual: TradingState::Active,
            state: TradingState::Active,
            tripped: 0,
            peak_equity_quote: equity_quote,
            drawdown_peak_quote: equity_quote,
            equity_quote,
            day_index: None,
            day_start_equity_quote: equity_quote,
            prices: vec![PriceRing::new(); n_instruments],
            rejects: TimeWindow::new(1, 1),
            errors: TimeWindow::new(1, 1),
            seq: 0,
            changes: Vec::with_capacity(16),
        };
        b.set_limits(limits);
        b
    }

    /// New thresholds; rate windows restart empty when their size changes.
    pub fn set_limits(&mut self, limits: BreakerLimits) {
        let window = |r: Option<super::limits::RateBreaker>| match r {
            Some(r) => TimeWindow::new(r.max_events.saturating_add(1), r.window_ns),
            None => TimeWindow::new(1, 1),
        };
        if limits.reject_rate != self.limits.reject_rate || self.rejects.capacity() == 1 {
            self.rejects = window(limits.reject_rate);
        }
        if limits.error_rate != self.limits.error_rate || self.errors.capacity() == 1 {
            self.errors = window(limits.error_rate);
        }
        self.limits = limits;
    }

    pub fn state(&self) -> TradingState {
        self.state
    }

    pub fn equity_quote(&self) -> f64 {
        self.equity_quote
    }

    pub fn peak_equity_quote(&self) -> f64 {
        self.peak_equity_quote
    }

    pub fn day_start_equity_quote(&self) -> f64 {
        self.day_start_equity_quote
    }

    /// The tripped breakers.
    pub fn tripped_reasons(&self) -> Vec<StateReason> {
        StateReason::ALL
            .iter()
            .copied()
            .filter(|r| r.code() >= StateReason::KillSwitch.code() && self.tripped & r.bit() != 0)
            .collect()
    }

    pub fn is_tripped(&self, reason: StateReason) -> bool {
        self.tripped & reason.bit() != 0
    }

    /// Drains the recorded state changes.
    pub fn take_changes(&mut self) -> Vec<StateChange> {
        std::mem::take(&mut self.changes)
    }

    /// The recorded state changes not yet drained.
    pub fn pending_changes(&self) -> &[StateChange] {
        &self.changes
    }

    fn action_of(&self, r: StateReason) -> TradingState {
        let b = &self.limits;
        match r {
            StateReason::Drawdown => b.drawdown_action,
            StateReason::DailyLoss => b.daily_loss_action,
            StateReason::Volatility => b.volatility.map_or(TradingState::Halted, |v| v.action),
            StateReason::RejectRate => b.reject_rate.map_or(TradingState::Halted, |v| v.action),
            StateReason::ErrorRate => b.error_rate.map_or(TradingState::Halted, |v| v.action),
            StateReason::StaleData => b.stale_data_action,
            StateReason::KillSwitch | StateReason::Manual | StateReason::Reset => {
                TradingState::Halted
            }
        }
    }

    /// Recomputes the state and records a change if it moved.
    fn update(&mut self, reason: StateReason, instrument: Option<u32>, now_ns: u64) {
        let mut s = self.manual;
        for r in StateReason::ALL {
            if r.code() >= StateReason::KillSwitch.code() && self.tripped & r.bit() != 0 {
                s = s.max(self.action_of(r));
            }
        }
        if s != self.state {
            self.seq += 1;
            self.changes.push(StateChange {
                from: self.state,
                to: s,
                reason,
                instrument,
                ts_ns: now_ns,
                seq: self.seq,
            });
            self.state = s;
        }
    }

    fn trip(&mut self, reason: StateReason, instrument: Option<u32>, now_ns: u64) {
        if self.tripped & reason.bit() == 0 {
            self.tripped |= reason.bit();
            self.update(reason, instrument, now_ns);
        }
    }

    /// The operator's state; breakers can only make it more restrictive.
    pub fn set_state(&mut self, state: TradingState, now_ns: u64) {
        self.manual = state;
        self.update(StateReason::Manual, None, now_ns);
    }

    /// Halts trading until reset.
    pub fn kill(&mut self, now_ns: u64) {
        self.trip(StateReason::KillSwitch, None, now_ns);
    }

    fn roll_day(&mut self, now_ns: u64) {
        let day = now_ns.saturating_sub(self.limits.day_start_offset_ns) / DAY_NS;
        if self.day_index != Some(day) {
            self.day_index = Some(day);
            self.day_start_equity_quote = self.equity_quote;
        }
    }

    /// New account equity (capital + PnL - fees): drives the drawdown and daily-loss
    /// breakers. A non-finite equity is ignored (the caller's inputs are validated).
    pub fn on_equity(&mut self, equity_quote: f64, now_ns: u64) {
        if !equity_quote.is_finite() {
            return;
        }
        // The day rolls with the equity of the last update before the boundary.
        self.roll_day(now_ns);
        self.equity_quote = equity_quote;
        if equity_quote > self.peak_equity_quote {
            self.peak_equity_quote = equity_quote;
        }
        if let Some(max_dd) = self.limits.max_drawdown_frac {
            let peak = self.peak_equity_quote;
            if peak > 0.0 && (peak - equity_quote) / peak > max_dd {
                if !self.is_tripped(StateReason::Drawdown) {
                    self.drawdown_peak_quote = peak;
                }
                self.trip(StateReason::Drawdown, None, now_ns);
            }
        }
        if let Some(max_loss) = self.limits.max_daily_loss_quote {
            if self.day_start_equity_quote - equity_quote > max_loss {
                self.trip(StateReason::DailyLoss, None, now_ns);
            }
        }
    }

    /// A reference price: drives the volatility halt.
    pub fn on_price(&mut self, instrument: u32, price_ticks: i64, now_ns: u64) {
        let Some(v) = self.limits.volatility else {
            return;
        };
        let Some(ring) = self.prices.get_mut(instrument as usize) else {
            return;
        };
        if ring.push(now_ns, price_ticks, v.window_ns) > v.max_move_frac {
            self.trip(StateReason::Volatility, Some(instrument), now_ns);
        }
    }

    /// A venue rejected one of our orders.
    pub fn on_venue_reject(&mut self, now_ns: u64) {
        if let Some(r) = self.limits.reject_rate {
            self.rejects.record(now_ns);
            if self.rejects.count(now_ns) > r.max_events as usize {
                self.trip(StateReason::RejectRate, None, now_ns);
            }
        }
    }

    /// The caller hit an error talking to a venue.
    pub fn on_error(&mut self, now_ns: u64) {
        if let Some(r) = self.limits.error_rate {
            self.errors.record(now_ns);
            if self.errors.count(now_ns) > r.max_events as usize {
                self.trip(StateReason::ErrorRate, None, now_ns);
            }
        }
    }

    /// Stale-data check over the reference times of every instrument (0 = never priced,
    /// not watched); also rolls the trading day.
    pub fn on_clock(&mut self, ref_ts_ns: &[u64], now_ns: u64) {
        self.roll_day(now_ns);
        if let Some(i) = self.stale_instrument(ref_ts_ns, now_ns) {
            self.trip(StateReason::StaleData, Some(i), now_ns);
        }
    }

    fn stale_instrument(&self, ref_ts_ns: &[u64], now_ns: u64) -> Option<u32> {
        let max_age = self.limits.stale_data_ns?;
        ref_ts_ns
            .iter()
            .position(|&t| t != 0 && now_ns.saturating_sub(t) > max_age)
            .map(|i| i as u32)
    }

    /// Clears every tripped breaker and returns to the operator's state (ACTIVE unless set
    /// otherwise), or refuses naming the breakers whose condition still holds (see the
    /// module docs). `rebase_peak` accepts the drawdown: the current equity becomes the
    /// peak.
    pub fn reset(
        &mut self,
        ref_ts_ns: &[u64],
        now_ns: u64,
        rebase_peak: bool,
    ) -> Result<(), ResetRefused> {
        self.roll_day(now_ns);
        let mut holding = Vec::new();
        if self.is_tripped(StateReason::Drawdown)
            && !rebase_peak
            && self.equity_quote < self.drawdown_peak_quote
        {
            holding.push(StateReason::Drawdown);
        }
        if let Some(max_loss) = self.limits.max_daily_loss_quote {
            if self.is_tripped(StateReason::DailyLoss)
                && self.day_start_equity_quote - self.equity_quote > max_loss
            {
                holding.push(StateReason::DailyLoss);
            }
        }
        if self.is_tripped(StateReason::StaleData)
            && self.stale_instrument(ref_ts_ns, now_ns).is_some()
        {
            holding.push(StateReason::StaleData);
        }
        if !holding.is_empty() {
            return Err(ResetRefused { reasons: holding });
        }
        if rebase_peak {
            self.peak_equity_quote = self.equity_quote;
        }
        self.tripped = 0;
        self.manual = TradingState::Active;
        self.rejects.clear();
        self.errors.clear();
        for r in &mut self.prices {
            r.len = 0;
        }
        self.update(StateReason::Reset, None, now_ns);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::limits::{RateBreaker, VolatilityHalt};

    const H: TradingState = TradingState::Halted;

    #[test]
    fn drawdown_trips_and_needs_a_new_peak_or_a_rebase() {
        let l = BreakerLimits {
            max_drawdown_frac: Some(0.10),
            ..Default::default()
        };
        let mut b = Breakers::new(l, 0, 1000.0);
        b.on_equity(1200.0, 1);
        b.on_equity(1081.0, 2); // 9.9% below 1200
        assert_eq!(b.state(), TradingState::Active);
        b.on_equity(1079.0, 3); // 10.08% below
        assert_eq!(b.state(), H);
        let c = b.take_changes();
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].from, c[0].to, c[0].reason),
            (TradingState::Active, H, StateReason::Drawdown)
        );
        assert_eq!(
            b.reset(&[], 4, false),
            Err(ResetRefused {
                reasons: vec![StateReason::Drawdown]
            })
        );
        assert_eq!(b.state(), H);
        // Back to the old peak: the reset is allowed.
        b.on_equity(1200.0, 5);
        assert_eq!(
            b.state(),
            H,
            "a recovered breaker still waits for the reset"
        );
        assert_eq!(b.reset(&[], 6, false), Ok(()));
        assert_eq!(b.state(), TradingState::Active);
        // Trip again, then accept the loss with a rebase.
        b.on_equity(1000.0, 7);
        assert_eq!(b.state(), H);
        assert_eq!(b.reset(&[], 8, true), Ok(()));
        assert_eq!(b.peak_equity_quote(), 1000.0);
        b.on_equity(950.0, 9); // 5% below the new peak
        assert_eq!(b.state(), TradingState::Active);
    }

    #[test]
    fn daily_loss_reduces_until_the_next_day() {
        let l = BreakerLimits {
            max_daily_loss_quote: Some(100.0),
            // The trading day starts at 01:00 UTC.
            day_start_offset_ns: 3_600_000_000_000,
            ..Default::default()
        };
        let day = DAY_NS;
        let mut b = Breakers::new(l, 0, 1000.0);
        b.on_equity(1000.0, 2 * day + 3_600_000_000_000); // day 2 starts at 1000
        b.on_equity(901.0, 2 * day + 5_000_000_000_000);
        assert_eq!(b.state(), TradingState::Active);
        b.on_equity(899.0, 2 * day + 6_000_000_000_000);
        assert_eq!(b.state(), TradingState::Reducing);
        // 00:30 the next calendar day is still the same trading day.
        let same_day = 3 * day + 1_800_000_000_000;
        assert!(b.reset(&[], same_day, false).is_err());
        let next_day = 3 * day + 3_600_000_000_000;
        assert_eq!(b.reset(&[], next_day, false), Ok(()));
        assert_eq!(b.day_start_equity_quote(), 899.0);
        assert_eq!(b.state(), TradingState::Active);
    }

    #[test]
    fn volatility_halt_trips_on_a_move_within_the_window_only() {
        let l = BreakerLimits {
            volatility: Some(VolatilityHalt {
                max_move_frac: 0.05,
                window_ns: 1000,
                action: H,
            }),
            ..Default::default()
        };
        let mut b = Breakers::new(l, 2, 0.0);
        b.on_price(0, 10_000, 0);
        b.on_price(0, 10_400, 500);
        b.on_price(0, 10_499, 999); // 4.99%
        assert_eq!(b.state(), TradingState::Active);
        b.on_price(0, 10_600, 1500); // 10_000 and 10_400 left the window; 10_499 -> 10_600 is 0.96%
        assert_eq!(b.state(), TradingState::Active);
        b.on_price(1, 2_000, 1600);
        b.on_price(1, 2_101, 1700); // 5.05%
        assert_eq!(b.state(), H);
        let c = b.take_changes();
        assert_eq!(
            (c[0].reason, c[0].instrument),
            (StateReason::Volatility, Some(1))
        );
        assert_eq!(b.reset(&[], 1800, false), Ok(()));
        assert_eq!(b.state(), TradingState::Active);
    }

    #[test]
    fn reject_and_error_rates_trip_above_n_in_the_window() {
        let l = BreakerLimits {
            reject_rate: Some(RateBreaker {
                max_events: 3,
                window_ns: 100,
                action: H,
            }),
            error_rate: Some(RateBreaker {
                max_events: 1,
                window_ns: 10,
                action: TradingState::Reducing,
            }),
            ..Default::default()
        };
        let mut b = Breakers::new(l, 0, 0.0);
        for t in [0, 50, 99, 150, 180] {
            b.on_venue_reject(t); // never more than 3 within 100 ns
        }
        assert_eq!(b.state(), TradingState::Active);
        b.on_venue_reject(190); // 99,150,180,190 within 100 ns
        assert_eq!(b.state(), H);
        b.reset(&[], 200, false).unwrap();
        b.on_error(300);
        b.on_error(310);
        assert_eq!(b.state(), TradingState::Active);
        b.on_error(315);
        assert_eq!(b.state(), TradingState::Reducing);
        assert_eq!(b.tripped_reasons(), vec![StateReason::ErrorRate]);
    }

    #[test]
    fn stale_data_trips_and_reset_waits_for_fresh_data() {
        let l = BreakerLimits {
            stale_data_ns: Some(1000),
            ..Default::default()
        };
        let mut b = Breakers::new(l, 2, 0.0);
        b.on_clock(&[0, 500], 1500);
        assert_eq!(b.state(), TradingState::Active); // age exactly 1000 is fine; 0 = unwatched
        b.on_clock(&[0, 500], 1501);
        assert_eq!(b.state(), H);
        assert!(b.reset(&[0, 500], 1600, false).is_err());
        assert_eq!(b.reset(&[0, 1590], 1600, false), Ok(()));
    }

    #[test]
    fn manual_state_and_kill_switch_combine_to_the_strictest() {
        let mut b = Breakers::new(BreakerLimits::default(), 0, 0.0);
        b.set_state(TradingState::Reducing, 1);
        b.kill(2);
        assert_eq!(b.state(), H);
        let c = b.take_changes();
        assert_eq!(c.iter().map(|c| c.seq).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(c[1].reason, StateReason::KillSwitch);
        b.reset(&[], 3, false).unwrap();
        assert_eq!(b.state(), TradingState::Active);
        assert_eq!(b.take_changes()[0].reason, StateReason::Reset);
    }
}
