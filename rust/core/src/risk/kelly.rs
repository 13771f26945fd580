//! Kelly sizing: the growth-optimal fraction of equity for a discrete bet, for a
//! continuous (lognormal) asset and for several assets with a covariance matrix, made
//! fractional and capped, and turned into an order quantity in lots.

use super::error::{all_finite, finite, out_of_range, RiskError};
use super::stats::{cholesky, cholesky_solve};

/// Kelly fraction of a bet won with probability `p` paying `b` per unit staked (lost stake
/// otherwise): `f = p - (1 - p) / b`. Negative means the bet has negative edge.
pub fn discrete(p: f64, b: f64) -> Result<f64, RiskError> {
    finite("p", p)?;
    finite("b", b)?;
    if !(0.0..=1.0).contains(&p) {
        return Err(out_of_range("p", p, "must be a probability in [0, 1]"));
    }
    if b <= 0.0 {
        return Err(out_of_range("b", b, "must be greater than zero"));
    }
    Ok(p - (1.0 - p) / b)
}

/// Kelly leverage of a continuous asset with excess drift `mu` and variance `variance`
/// per period: `f = mu / sigma^2`.
pub fn continuous(mu: f64, variance: f64) -> Result<f64, RiskError> {
    finite("mu", mu)?;
    finite("variance", variance)?;
    if variance <= 0.0 {
        return Err(out_of_range(
            "variance",
            variance,
            "must be greater than zero",
        ));
    }
    Ok(mu / variance)
}

/// Multi-asset Kelly weights `Σ⁻¹ μ` (solved by Cholesky; `cov` row-major `n x n`).
pub fn multi_asset(means: &[f64], cov: &[f64]) -> Result<Vec<f64>, RiskError> {
    let n = means.len();
    if n == 0 {
        return Err(RiskError::TooShort {
            field: "means",
            min: 1,
        });
    }
    all_finite("means", means)?;
    if cov.len() != n * n {
        return Err(RiskError::LengthMismatch {
            field: "cov",
            len: cov.len(),
            expected: n * n,
        });
    }
    all_finite("cov", cov)?;
    let l = cholesky(cov, n).ok_or(RiskError::NotPositiveDefinite("cov"))?;
    Ok(cholesky_solve(&l, n, means))
}

fn check_fraction_cap(fraction: f64, cap: f64) -> Result<(), RiskError> {
    finite("fraction", fraction)?;
    finite("cap", cap)?;
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(out_of_range("fraction", fraction, "must be in (0, 1]"));
    }
    if cap < 0.0 {
        return Err(out_of_range("cap", cap, "must not be negative"));
    }
    Ok(())
}

/// `f x fraction`, clamped to `[-cap, cap]` (half-Kelly with 2x leverage: `(f, 0.5, 2.0)`).
pub fn fractional_capped(f: f64, fraction: f64, cap: f64) -> Result<f64, RiskError> {
    finite("f", f)?;
    check_fraction_cap(fraction, cap)?;
    Ok((f * fraction).clamp(-cap, cap))
}

/// Multi-asset weights times `fraction`, then scaled down as a whole (keeping their
/// proportions) so that the gross leverage `sum |w|` is at most `max_gross`.
pub fn fractional_capped_weights(
    weights: &[f64],
    fraction: f64,
    max_gross: f64,
) -> Result<Vec<f64>, RiskError> {
    all_finite("weights", weights)?;
    check_fraction_cap(fraction, max_gross)?;
    let mut w: Vec<f64> = weights.iter().map(|x| x * fraction).collect();
    let gross: f64 = w.iter().map(|x| x.abs()).sum();
    if gross > max_gross {
        let s = max_gross / gross;
        w.iter_mut().for_each(|x| *x *= s);
    }
    Ok(w)
}

/// Lots worth `|fraction| x equity` at `price_ticks` (rounded down), at most `max_lots`.
/// A zero fraction or non-positive equity gives 0; the caller picks the side from the
/// sign of the fraction.
pub fn size_in_lots(
    fraction: f64,
    equity_quote: f64,
    price_ticks: i64,
    quote_per_tick_lot: f64,
    max_lots: i64,
) -> Result<i64, RiskError> {
    finite("fraction", fraction)?;
    finite("equity_quote", equity_quote)?;
    finite("quote_per_tick_lot", quote_per_tick_lot)?;
    if price_ticks <= 0 {
        return Err(out_of_range("price_ticks", price_ticks, "must be positive"));
    }
    if quote_per_tick_lot <= 0.0 {
        return Err(out_of_range(
            "quote_per_tick_lot",
            quote_per_tick_lot,
            "must be greater than zero",
        ));
    }
    if equity_quote <= 0.0 || fraction == 0.0 || max_lots <= 0 {
        return Ok(0);
    }
    let lots = (fraction.abs() * equity_quote / (price_ticks as f64 * quote_per_tick_lot)).floor();
    // The float comparison also covers values beyond i64's range.
    Ok(if lots >= max_lots as f64 {
        max_lots
    } else {
        lots as i64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kelly_fractions_by_hand() {
        assert!((discrete(0.6, 1.0).unwrap() - 0.2).abs() < 1e-15); // even-money 60% bet
        assert!((discrete(0.5, 2.0).unwrap() - 0.25).abs() < 1e-15);
        assert!((continuous(0.08, 0.04).unwrap() - 2.0).abs() < 1e-15);
        assert_eq!(fractional_capped(2.0, 0.5, 0.8).unwrap(), 0.8);
        assert_eq!(fractional_capped(-1.0, 0.5, 0.8).unwrap(), -0.5);
        let w = fractional_capped_weights(&[3.0, -1.0], 1.0, 2.0).unwrap();
        assert_eq!(w, vec![1.5, -0.5]);
        // Diagonal covariance: each weight is mu_i / var_i.
        let w = multi_asset(&[0.1, 0.2], &[0.04, 0.0, 0.0, 0.1]).unwrap();
        assert!((w[0] - 2.5).abs() < 1e-12 && (w[1] - 2.0).abs() < 1e-12);
    }

    #[test]
    fn kelly_rejects_nonsense() {
        assert!(discrete(1.2, 1.0).is_err());
        assert!(discrete(0.5, 0.0).is_err());
        assert!(discrete(f64::NAN, 1.0).is_err());
        assert!(continuous(0.1, 0.0).is_err());
        assert!(continuous(f64::INFINITY, 1.0).is_err());
        assert!(multi_asset(&[0.1, 0.2], &[1.0, 2.0, 2.0, 1.0]).is_err());
        assert!(multi_asset(&[0.1], &[f64::NAN]).is_err());
        assert!(fractional_capped(1.0, 0.0, 1.0).is_err());
        assert!(fractional_capped(1.0, 0.5, f64::NAN).is_err());
    }

    #[test]
    fn sizing_turns_a_fraction_into_whole_lots_within_the_cap() {
        // 25% of 10_000 quote at 20_000 ticks x 0.01 quote per tick-lot = 200 per lot -> 12.5
        assert_eq!(size_in_lots(0.25, 10_000.0, 20_000, 0.01, 100).unwrap(), 12);
        assert_eq!(
            size_in_lots(-0.25, 10_000.0, 20_000, 0.01, 100).unwrap(),
            12
        );
        assert_eq!(size_in_lots(0.25, 10_000.0, 20_000, 0.01, 5).unwrap(), 5);
        assert_eq!(size_in_lots(0.25, -1.0, 20_000, 0.01, 5).unwrap(), 0);
        assert_eq!(
            size_in_lots(1e300, 1e300, 1, 1e-300, i64::MAX).unwrap(),
            i64::MAX
        );
        assert!(size_in_lots(f64::NAN, 1.0, 1, 1.0, 1).is_err());
        assert!(size_in_lots(0.1, 1.0, 0, 1.0, 1).is_err());
    }
}
