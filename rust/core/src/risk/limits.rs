//! The risk configuration: per-instrument order limits, account-wide exposure and order
//! limits, throttles and circuit-breaker thresholds, with [`RiskLimits::validate`] naming
//! the offending field of every invalid value.
//!
//! Float limits must be finite: an infinite limit is refused rather than read as "no limit",
//! because a NaN or an infinity slipping in from a config file would otherwise switch a
//! check off silently. A check is switched off explicitly with `None` where that makes
//! sense (throttles, breakers).

use super::state::TradingState;

/// Limits of one instrument, indexed like the engine's instrument table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstrumentLimits {
    /// Lowest accepted limit price (at least 1).
    pub min_price_ticks: i64,
    pub max_price_ticks: i64,
    /// Smallest order (at least 1).
    pub min_qty_lots: i64,
    /// Largest single order.
    pub max_qty_lots: i64,
    /// Smallest order value in the quote currency (0 for none).
    pub min_notional_quote: f64,
    /// Largest order value in the quote currency.
    pub max_notional_quote: f64,
    /// Largest absolute position, counting every working order as filled.
    pub max_position_lots: i64,
    /// Largest distance of a limit price from the reference price, in basis points of the
    /// reference price (fat-finger band).
    pub price_band_bps: f64,
}

impl InstrumentLimits {
    /// Limits that bound nothing in practice except the position: for tests and for
    /// building a config field by field.
    pub fn permissive(max_position_lots: i64) -> InstrumentLimits {
        InstrumentLimits {
            min_price_ticks: 1,
            max_price_ticks: i64::MAX,
            min_qty_lots: 1,
            max_qty_lots: i64::MAX,
            min_notional_quote: 0.0,
            max_notional_quote: f64::MAX,
            max_position_lots,
            price_band_bps: 1e9,
        }
    }
}

/// At most `max_orders` orders in any window of `window_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    pub max_orders: u32,
    pub window_ns: u64,
}

/// Trips when more than `max_events` events fall within `window_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateBreaker {
    pub max_events: u32,
    pub window_ns: u64,
    /// State entered on trip: `Reducing` or `Halted`.
    pub action: TradingState,
}

/// Trips when an instrument's reference price moves more than `max_move_frac` (0.05 = 5%)
/// between its lowest and highest value within `window_ns`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VolatilityHalt {
    pub max_move_frac: f64,
    pub window_ns: u64,
    pub action: TradingState,
}

/// Circuit-breaker thresholds; `None` switches a breaker off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerLimits {
    /// Largest fall of equity from its peak, as a fraction of the peak (0.1 = 10%).
    pub max_drawdown_frac: Option<f64>,
    pub drawdown_action: TradingState,
    /// Largest loss of equity since the start of the trading day, in the quote currency.
    pub max_daily_loss_quote: Option<f64>,
    pub daily_loss_action: TradingState,
    /// Where the trading day starts, as an offset from midnight UTC (0 = UTC midnight).
    pub day_start_offset_ns: u64,
    pub volatility: Option<VolatilityHalt>,
    /// Orders rejected by venues.
    pub reject_rate: Option<RateBreaker>,
    /// Errors reported by the caller (connectivity, unknown order, ...).
    pub error_rate: Option<RateBreaker>,
    /// Largest age of any instrument's reference price before trading halts.
    pub stale_data_ns: Option<u64>,
    pub stale_data_action: TradingState,
}

impl Default for BreakerLimits {
    fn default() -> BreakerLimits {
        BreakerLimits {
            max_drawdown_frac: None,
            drawdown_action: TradingState::Halted,
            max_daily_loss_quote: None,
            daily_loss_action: TradingState::Reducing,
            day_start_offset_ns: 0,
            volatility: None,
            reject_rate: None,
            error_rate: None,
            stale_data_ns: None,
            stale_data_action: TradingState::Halted,
        }
    }
}

/// Every pre-trade limit and breaker threshold. Change at run time with
/// [`RiskEngine::set_limits`](super::RiskEngine::set_limits).
#[derive(Debug, Clone, PartialEq)]
pub struct RiskLimits {
    /// One entry per instrument of the engine, in index order.
    pub instruments: Vec<InstrumentLimits>,
    /// Largest sum over instruments of |worst-case position| x reference value.
    pub max_gross_exposure_quote: f64,
    /// Largest |sum over instruments of worst-case signed position x reference value|.
    pub max_net_exposure_quote: f64,
    /// Largest number of working orders, all instruments together.
    pub max_open_orders: u32,
    /// Strategy ids must be below this.
    pub strategy_count: u16,
    pub strategy_throttle: Option<Throttle>,
    pub venue_throttle: Option<Throttle>,
    /// Orders are refused when the instrument's reference price is older than this.
    pub max_reference_age_ns: u64,
    /// Refuse orders that would cross our own resting orders.
    pub self_trade_prevention: bool,
    /// How many finished client order ids are remembered to refuse their reuse.
    pub duplicate_id_memory: u32,
    pub breakers: BreakerLimits,
}

/// An invalid configuration value, naming the field (`instruments[2].max_qty_lots`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid risk limit `{field}` = {value}: {rule}")]
pub struct LimitsError {
    pub field: String,
    pub value: String,
    pub rule: &'static str,
}

fn err(field: impl Into<String>, value: impl ToString, rule: &'static str) -> LimitsError {
    LimitsError {
        field: field.into(),
        value: value.to_string(),
        rule,
    }
}

/// A finite float that is at least `min` (and positive when `positive`).
fn check_f64(field: &str, v: f64, min: f64, positive: bool) -> Result<(), LimitsError> {
    if !v.is_finite() {
        return Err(err(field, v, "must be a finite number"));
    }
    if positive && v <= 0.0 {
        return Err(err(field, v, "must be greater than zero"));
    }
    if v < min {
        return Err(err(field, v, "is below the smallest allowed value"));
    }
    Ok(())
}

fn check_action(field: &str, s: TradingState) -> Result<(), LimitsError> {
    if s == TradingState::Active {
        return Err(err(
            field,
            s.name(),
            "a breaker must move to reducing or halted",
        ));
    }
    Ok(())
}

fn check_rate(field: &str, r: &RateBreaker) -> Result<(), LimitsError> {
    if r.max_events == 0 {
        return Err(err(format!("{field}.max_events"), 0, "must be at least 1"));
    }
    if r.window_ns == 0 {
        return Err(err(format!("{field}.window_ns"), 0, "must be at least 1"));
    }
    check_action(&format!("{field}.action"), r.action)
}

fn check_throttle(field: &str, t: &Throttle) -> Result<(), LimitsError> {
    if t.max_orders == 0 {
        return Err(err(
            format!("{field}.max_orders"),
            0,
            "must be at least 1 (use None to switch the throttle off)",
        ));
    }
    // Keeps one preallocated ring per strategy and per venue to a sane size.
    if t.max_orders > 1_000_000 {
        return Err(err(
            format!("{field}.max_orders"),
            t.max_orders,
            "must be at most 1000000",
        ));
    }
    if t.window_ns == 0 {
        return Err(err(format!("{field}.window_ns"), 0, "must be at least 1"));
    }
    Ok(())
}

impl InstrumentLimits {
    fn validate(&self, i: usize) -> Result<(), LimitsError> {
        let f = |name: &str| format!("instruments[{i}].{name}");
        if self.min_price_ticks < 1 {
            return Err(err(
                f("min_price_ticks"),
                self.min_price_ticks,
                "must be at least 1",
            ));
        }
        if self.max_price_ticks < self.min_price_ticks {
            return Err(err(
                f("max_price_ticks"),
                self.max_price_ticks,
                "must be at least min_price_ticks",
            ));
        }
        if self.min_qty_lots < 1 {
            return Err(err(
                f("min_qty_lots"),
                self.min_qty_lots,
                "must be at least 1",
            ));
        }
        if self.max_qty_lots < self.min_qty_lots {
            return Err(err(
                f("max_qty_lots"),
                self.max_qty_lots,
                "must be at least min_qty_lots",
            ));
        }
        check_f64(
            &f("min_notional_quote"),
            self.min_notional_quote,
            0.0,
            false,
        )?;
        check_f64(&f("max_notional_quote"), self.max_notional_quote, 0.0, true)?;
        if self.max_notional_quote < self.min_notional_quote {
            return Err(err(
                f("max_notional_quote"),
                self.max_notional_quote,
                "must be at least min_notional_quote",
            ));
        }
        if self.max_position_lots < 0 {
            return Err(err(
                f("max_position_lots"),
                self.max_position_lots,
                "must not be negative",
            ));
        }
        check_f64(&f("price_band_bps"), self.price_band_bps, 0.0, true)
    }
}

impl RiskLimits {
    /// Limits for `n_instruments` instruments that each allow `max_position_lots`, with
    /// generous account limits, no throttles and no breakers. A starting point for tests
    /// and configs.
    pub fn permissive(n_instruments: usize, max_position_lots: i64) -> RiskLimits {
        RiskLimits {
            instruments: vec![InstrumentLimits::permissive(max_position_lots); n_instruments],
            max_gross_exposure_quote: 1e300,
            max_net_exposure_quote: 1e300,
            max_open_orders: 10_000,
            strategy_count: 16,
            strategy_throttle: None,
            venue_throttle: None,
            max_reference_age_ns: u64::MAX,
            self_trade_prevention: true,
            duplicate_id_memory: 4096,
            breakers: BreakerLimits::default(),
        }
    }

    /// Every value checked; the first invalid one is reported with its field name.
    pub fn validate(&self) -> Result<(), LimitsError> {
        for (i, l) in self.instruments.iter().enumerate() {
            l.validate(i)?;
        }
        check_f64(
            "max_gross_exposure_quote",
            self.max_gross_exposure_quote,
            0.0,
            true,
        )?;
        check_f64(
            "max_net_exposure_quote",
            self.max_net_exposure_quote,
            0.0,
            true,
        )?;
        if self.max_open_orders == 0 {
            return Err(err("max_open_orders", 0, "must be at least 1"));
        }
        if self.strategy_count == 0 {
            return Err(err("strategy_count", 0, "must be at least 1"));
        }
        if let Some(t) = &self.strategy_throttle {
            check_throttle("strategy_throttle", t)?;
        }
        if let Some(t) = &self.venue_throttle {
            check_throttle("venue_throttle", t)?;
        }
        if self.max_reference_age_ns == 0 {
            return Err(err("max_reference_age_ns", 0, "must be at least 1"));
        }
        let b = &self.breakers;
        if let Some(d) = b.max_drawdown_frac {
            check_f64("breakers.max_drawdown_frac", d, 0.0, true)?;
            if d >= 1.0 {
                return Err(err(
                    "breakers.max_drawdown_frac",
                    d,
                    "must be below 1 (a fraction of peak equity)",
                ));
            }
        }
        check_action("breakers.drawdown_action", b.drawdown_action)?;
        if let Some(l) = b.max_daily_loss_quote {
            check_f64("breakers.max_daily_loss_quote", l, 0.0, true)?;
        }
        check_action("breakers.daily_loss_action", b.daily_loss_action)?;
        const DAY_NS: u64 = 86_400_000_000_000;
        if b.day_start_offset_ns >= DAY_NS {
            return Err(err(
                "breakers.day_start_offset_ns",
                b.day_start_offset_ns,
                "must be below one day",
            ));
        }
        if let Some(v) = &b.volatility {
            check_f64(
                "breakers.volatility.max_move_frac",
                v.max_move_frac,
                0.0,
                true,
            )?;
            if v.window_ns == 0 {
                return Err(err(
                    "breakers.volatility.window_ns",
                    0,
                    "must be at least 1",
                ));
            }
            check_action("breakers.volatility.action", v.action)?;
        }
        if let Some(r) = &b.reject_rate {
            check_rate("breakers.reject_rate", r)?;
        }
        if let Some(r) = &b.error_rate {
            check_rate("breakers.error_rate", r)?;
        }
        if b.stale_data_ns == Some(0) {
            return Err(err("breakers.stale_data_ns", 0, "must be at least 1"));
        }
        check_action("breakers.stale_data_action", b.stale_data_action)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(l: &RiskLimits) -> String {
        l.validate().unwrap_err().field
    }

    #[test]
    fn permissive_limits_are_valid() {
        assert_eq!(RiskLimits::permissive(3, 10).validate(), Ok(()));
    }

    #[test]
    fn each_invalid_value_names_its_field() {
        let base = RiskLimits::permissive(2, 10);
        let mut l = base.clone();
        l.instruments[1].price_band_bps = f64::NAN;
        assert_eq!(field_of(&l), "instruments[1].price_band_bps");
        let mut l = base.clone();
        l.instruments[0].max_notional_quote = f64::INFINITY;
        assert_eq!(field_of(&l), "instruments[0].max_notional_quote");
        let mut l = base.clone();
        l.instruments[0].min_notional_quote = -1.0;
        assert_eq!(field_of(&l), "instruments[0].min_notional_quote");
        let mut l = base.clone();
        l.instruments[1].max_qty_lots = 0;
        assert_eq!(field_of(&l), "instruments[1].max_qty_lots");
        let mut l = base.clone();
        l.instruments[0].min_price_ticks = 0;
        assert_eq!(field_of(&l), "instruments[0].min_price_ticks");
        let mut l = base.clone();
        l.instruments[0].max_position_lots = -1;
        assert_eq!(field_of(&l), "instruments[0].max_position_lots");
        let mut l = base.clone();
        l.max_gross_exposure_quote = f64::NEG_INFINITY;
        assert_eq!(field_of(&l), "max_gross_exposure_quote");
        let mut l = base.clone();
        l.max_net_exposure_quote = 0.0;
        assert_eq!(field_of(&l), "max_net_exposure_quote");
        let mut l = base.clone();
        l.max_open_orders = 0;
        assert_eq!(field_of(&l), "max_open_orders");
        let mut l = base.clone();
        l.strategy_throttle = Some(Throttle {
            max_orders: 0,
            window_ns: 1,
        });
        assert_eq!(field_of(&l), "strategy_throttle.max_orders");
        let mut l = base.clone();
        l.venue_throttle = Some(Throttle {
            max_orders: 1,
            window_ns: 0,
        });
        assert_eq!(field_of(&l), "venue_throttle.window_ns");
        let mut l = base.clone();
        l.breakers.max_drawdown_frac = Some(1.5);
        assert_eq!(field_of(&l), "breakers.max_drawdown_frac");
        let mut l = base.clone();
        l.breakers.max_daily_loss_quote = Some(f64::NAN);
        assert_eq!(field_of(&l), "breakers.max_daily_loss_quote");
        let mut l = base.clone();
        l.breakers.drawdown_action = TradingState::Active;
        assert_eq!(field_of(&l), "breakers.drawdown_action");
        let mut l = base.clone();
        l.breakers.volatility = Some(VolatilityHalt {
            max_move_frac: f64::INFINITY,
            window_ns: 1,
            action: TradingState::Halted,
        });
        assert_eq!(field_of(&l), "breakers.volatility.max_move_frac");
        let mut l = base.clone();
        l.breakers.error_rate = Some(RateBreaker {
            max_events: 0,
            window_ns: 1,
            action: TradingState::Halted,
        });
        assert_eq!(field_of(&l), "breakers.error_rate.max_events");
        let mut l = base.clone();
        l.breakers.stale_data_ns = Some(0);
        assert_eq!(field_of(&l), "breakers.stale_data_ns");
        let e = {
            let mut l = base;
            l.max_open_orders = 0;
            l.validate().unwrap_err()
        };
        assert!(e.to_string().contains("max_open_orders"));
    }
}
