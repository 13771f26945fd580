//! Value at Risk and Expected Shortfall, and VaR backtests.
//!
//! # Conventions
//! * Inputs are returns (log or simple, the functions do not care) per period; outputs are
//!   losses as positive fractions: `var = -q` where `q` is the `1 - confidence` quantile
//!   of the return distribution, `es` = minus the mean return at or beyond `q`.
//! * Historical: numpy's default linear quantile of the sample; ES = -mean of the returns
//!   `<= q`.
//! * Parametric normal: mean and sample standard deviation (n - 1).
//! * Cornish-Fisher: the normal quantile corrected by the sample skewness and excess
//!   kurtosis (biased moments, as scipy's defaults); ES integrates the same expansion over
//!   the tail in closed form (truncated-normal moments), see [`cornish_fisher`].
//! * Monte Carlo: `n_paths` normal draws (xoshiro256** + Box-Muller, seeded) valued with
//!   the historical estimator.
//! * Portfolios: returns are row-major `T x n` (one row per period), weights are fractions
//!   of portfolio value; the portfolio return is `returns . weights`.
//! * Backtests: an exception is a period whose return is below `-var` of the forecast made
//!   before it. Kupiec's proportion-of-failures and Christoffersen's independence and
//!   conditional-coverage likelihood ratios, with chi-square p-values.

use super::error::{all_finite, out_of_range, RiskError};
use super::stats::{
    chi2_sf, cholesky, mean, norm_cdf, norm_pdf, norm_ppf, quantile_sorted, skew_kurtosis,
    variance, Xoshiro256,
};

/// A VaR and its Expected Shortfall, as positive loss fractions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VarEs {
    pub var: f64,
    pub es: f64,
}

fn check_confidence(confidence: f64) -> Result<(), RiskError> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(out_of_range(
            "confidence",
            confidence,
            "must be strictly between 0 and 1",
        ));
    }
    Ok(())
}

fn check_returns(returns: &[f64], min: usize) -> Result<(), RiskError> {
    if returns.len() < min {
        return Err(RiskError::TooShort {
            field: "returns",
            min,
        });
    }
    all_finite("returns", returns)
}

/// Historical VaR/ES of a sample, sorted into `buf` (reused, so rolling callers do not
/// allocate per window).
fn historical_sorted(buf: &mut [f64], confidence: f64) -> VarEs {
    buf.sort_unstable_by(f64::total_cmp);
    let q = quantile_sorted(buf, 1.0 - confidence);
    let tail = buf.partition_point(|&r| r <= q);
    let es = -buf[..tail].iter().sum::<f64>() / tail as f64;
    VarEs { var: -q, es }
}

/// Historical-simulation VaR and ES.
pub fn historical(returns: &[f64], confidence: f64) -> Result<VarEs, RiskError> {
    check_confidence(confidence)?;
    check_returns(returns, 1)?;
    let mut buf = returns.to_vec();
    Ok(historical_sorted(&mut buf, confidence))
}

/// Normal VaR and ES for a given mean and standard deviation.
pub fn normal_var_es(mean: f64, std: f64, confidence: f64) -> Result<VarEs, RiskError> {
    check_confidence(confidence)?;
    all_finite("mean/std", &[mean, std])?;
    if std < 0.0 {
        return Err(out_of_range("std", std, "must not be negative"));
    }
    let z = norm_ppf(confidence);
    Ok(VarEs {
        var: -mean + std * z,
        es: -mean + std * norm_pdf(z) / (1.0 - confidence),
    })
}

/// Parametric (normal) VaR and ES from the sample mean and standard deviation.
pub fn parametric_normal(returns: &[f64], confidence: f64) -> Result<VarEs, RiskError> {
    check_returns(returns, 2)?;
    normal_var_es(mean(returns), variance(returns).sqrt(), confidence)
}

/// Cornish-Fisher VaR and ES. With `z = Φ⁻¹(1 - c)`, skewness `S`, excess kurtosis `K`:
/// `z_cf = z + (z²-1)S/6 + (z³-3z)K/24 - (2z³-5z)S²/36` and `var = -(μ + σ z_cf)`.
/// ES averages the same expansion over the tail `u < 1 - c`: with `φ = φ(z)`,
/// `∫_{-∞}^{z} z_cf(t) φ(t) dt = φ [-1 - zS/6 + (1-z²)K/24 - (1-2z²)S²/36]`, so
/// `es = -(μ + σ/(1-c) x that)`.
pub fn cornish_fisher(returns: &[f64], confidence: f64) -> Result<VarEs, RiskError> {
    check_confidence(confidence)?;
    check_returns(returns, 3)?;
    let mu = mean(returns);
    let sigma = variance(returns).sqrt();
    let (s, k) = skew_kurtosis(returns);
    if !(s.is_finite() && k.is_finite()) {
        return Err(RiskError::NonFinite {
            field: "returns (moments)",
            value: f64::NAN,
        });
    }
    let z = norm_ppf(1.0 - confidence);
    let z2 = z * z;
    let z_cf = z + (z2 - 1.0) * s / 6.0 + (z2 * z - 3.0 * z) * k / 24.0
        - (2.0 * z2 * z - 5.0 * z) * s * s / 36.0;
    let tail_integral = norm_pdf(z)
        * (-1.0 - z * s / 6.0 + (1.0 - z2) * k / 24.0 - (1.0 - 2.0 * z2) * s * s / 36.0);
    Ok(VarEs {
        var: -(mu + sigma * z_cf),
        es: -(mu + sigma * tail_integral / (1.0 - confidence)),
    })
}

/// Monte Carlo VaR and ES of a normal with `mean` and `std`, from `n_paths` seeded draws.
pub fn monte_carlo_normal(
    mean: f64,
    std: f64,
    confidence: f64,
    n_paths: usize,
    seed: u64,
) -> Result<VarEs, RiskError> {
    check_confidence(confidence)?;
    all_finite("mean/std", &[mean, std])?;
    if n_paths < 2 {
        return Err(RiskError::TooShort {
            field: "n_paths",
            min: 2,
        });
    }
    let mut rng = Xoshiro256::new(seed);
    let mut sims: Vec<f64> = (0..n_paths)
        .map(|_| mean + std * rng.next_normal())
        .collect();
    Ok(historical_sorted(&mut sims, confidence))
}

fn check_matrix(returns: &[f64], n_assets: usize, min_rows: usize) -> Result<usize, RiskError> {
    if n_assets == 0 {
        return Err(out_of_range("n_assets", 0, "must be at least 1"));
    }
    if returns.len() % n_assets != 0 {
        return Err(RiskError::LengthMismatch {
            field: "returns",
            len: returns.len(),
            expected: returns.len() / n_assets * n_assets,
        });
    }
    let t = returns.len() / n_assets;
    if t < min_rows {
        return Err(RiskError::TooShort {
            field: "returns (rows)",
            min: min_rows,
        });
    }
    all_finite("returns", returns)?;
    Ok(t)
}

fn check_len(field: &'static str, v: &[f64], n: usize) -> Result<(), RiskError> {
    if v.len() != n {
        return Err(RiskError::LengthMismatch {
            field,
            len: v.len(),
            expected: n,
        });
    }
    all_finite(field, v)
}

/// Column means of row-major `T x n` returns.
pub fn column_means(returns: &[f64], n_assets: usize) -> Result<Vec<f64>, RiskError> {
    let t = check_matrix(returns, n_assets, 1)?;
    let mut m = vec![0.0; n_assets];
    for row in returns.chunks_exact(n_assets) {
        for (a, r) in m.iter_mut().zip(row) {
            *a += r;
        }
    }
    m.iter_mut().for_each(|a| *a /= t as f64);
    Ok(m)
}

/// Sample covariance (n - 1 denominator) of row-major `T x n` returns, row-major `n x n`.
pub fn sample_covariance(returns: &[f64], n_assets: usize) -> Result<Vec<f64>, RiskError> {
    let t = check_matrix(returns, n_assets, 2)?;
    let m = column_means(returns, n_assets)?;
    let n = n_assets;
    let mut c = vec![0.0; n * n];
    for row in returns.chunks_exact(n) {
        for i in 0..n {
            let di = row[i] - m[i];
            for j in 0..=i {
                c[i * n + j] += di * (row[j] - m[j]);
            }
        }
    }
    for i in 0..n {
        for j in 0..=i {
            c[i * n + j] /= (t - 1) as f64;
            c[j * n + i] = c[i * n + j];
        }
    }
    Ok(c)
}

/// EWMA (RiskMetrics) covariance: zero-mean, weight `(1-λ) λ^(T-1-t)` on period `t`
/// (the last period weighs most), normalized by `1 - λ^T` so the weights sum to one.
pub fn ewma_covariance(
    returns: &[f64],
    n_assets: usize,
    lambda: f64,
) -> Result<Vec<f64>, RiskError> {
    let t = check_matrix(returns, n_assets, 1)?;
    if !(lambda > 0.0 && lambda < 1.0) {
        return Err(out_of_range(
            "lambda",
            lambda,
            "must be strictly between 0 and 1",
        ));
    }
    let n = n_assets;
    let norm = 1.0 - lambda.powi(t as i32);
    let mut c = vec![0.0; n * n];
    let mut w = (1.0 - lambda) / norm; // weight of the last row, then older rows
    for row in returns.chunks_exact(n).rev() {
        for i in 0..n {
            for j in 0..=i {
                c[i * n + j] += w * row[i] * row[j];
            }
        }
        w *= lambda;
    }
    for i in 0..n {
        for j in 0..i {
            c[j * n + i] = c[i * n + j];
        }
    }
    Ok(c)
}

/// Portfolio return per period: `returns . weights`.
pub fn portfolio_returns(
    returns: &[f64],
    n_assets: usize,
    weights: &[f64],
) -> Result<Vec<f64>, RiskError> {
    check_matrix(returns, n_assets, 1)?;
    check_len("weights", weights, n_assets)?;
    Ok(returns
        .chunks_exact(n_assets)
        .map(|row| row.iter().zip(weights).map(|(r, w)| r * w).sum())
        .collect())
}

/// Parametric normal portfolio VaR/ES: mean `w.μ`, standard deviation `sqrt(w' Σ w)`.
pub fn portfolio_parametric(
    means: &[f64],
    cov: &[f64],
    weights: &[f64],
    confidence: f64,
) -> Result<VarEs, RiskError> {
    let n = weights.len();
    check_len("means", means, n)?;
    check_len("cov", cov, n * n)?;
    check_len("weights", weights, n)?;
    let mu: f64 = means.iter().zip(weights).map(|(m, w)| m * w).sum();
    let mut var = 0.0;
    for i in 0..n {
        for j in 0..n {
            var += weights[i] * cov[i * n + j] * weights[j];
        }
    }
    if var < 0.0 {
        return Err(RiskError::NotPositiveDefinite("cov"));
    }
    normal_var_es(mu, var.sqrt(), confidence)
}

/// Monte Carlo portfolio VaR/ES: correlated normal scenarios `μ + L z` (`L` the Cholesky
/// factor of `cov`), valued with the weights, estimated historically.
pub fn portfolio_monte_carlo(
    means: &[f64],
    cov: &[f64],
    weights: &[f64],
    confidence: f64,
    n_paths: usize,
    seed: u64,
) -> Result<VarEs, RiskError> {
    check_confidence(confidence)?;
    let n = weights.len();
    check_len("means", means, n)?;
    check_len("cov", cov, n * n)?;
    check_len("weights", weights, n)?;
    if n_paths < 2 {
        return Err(RiskError::TooShort {
            field: "n_paths",
            min: 2,
        });
    }
    let l = cholesky(cov, n).ok_or(RiskError::NotPositiveDefinite("cov"))?;
    // w' (μ + L z) = w'μ + (L' w)' z: one dot product per scenario.
    let mu: f64 = means.iter().zip(weights).map(|(m, w)| m * w).sum();
    let lw: Vec<f64> = (0..n)
        .map(|k| (k..n).map(|i| l[i * n + k] * weights[i]).sum())
        .collect();
    let mut rng = Xoshiro256::new(seed);
    let mut sims: Vec<f64> = (0..n_paths)
        .map(|_| mu + lw.iter().map(|c| c * rng.next_normal()).sum::<f64>())
        .collect();
    Ok(historical_sorted(&mut sims, confidence))
}

/// Historical VaR forecast for each period `t >= window` from the `window` returns before
/// it; `NaN` for the first `window` periods.
pub fn rolling_historical_var(
    returns: &[f64],
    window: usize,
    confidence: f64,
) -> Result<Vec<f64>, RiskError> {
    check_confidence(confidence)?;
    check_returns(returns, window.max(1))?;
    if window == 0 {
        return Err(out_of_range("window", 0, "must be at least 1"));
    }
    let mut out = vec![f64::NAN; returns.len()];
    let mut buf = vec![0.0; window];
    for t in window..returns.len() {
        buf.copy_from_slice(&returns[t - window..t]);
        out[t] = historical_sorted(&mut buf, confidence).var;
    }
    Ok(out)
}

/// `true` where the return lost more than the VaR forecast (`r < -var`); periods without a
/// forecast (NaN) are skipped.
pub fn exceptions(returns: &[f64], var: &[f64]) -> Result<Vec<bool>, RiskError> {
    if returns.len() != var.len() {
        return Err(RiskError::LengthMismatch {
            field: "var",
            len: var.len(),
            expected: returns.len(),
        });
    }
    Ok(returns
        .iter()
        .zip(var)
        .filter(|(_, v)| !v.is_nan())
        .map(|(r, v)| *r < -*v)
        .collect())
}

/// A likelihood-ratio test result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrTest {
    pub statistic: f64,
    pub p_value: f64,
    pub degrees_of_freedom: u32,
}

/// `x ln y`, with `0 ln 0 = 0` (the likelihood convention).
fn xlogy(x: f64, y: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else {
        x * y.ln()
    }
}

/// Kupiec's proportion-of-failures test: are exceptions as frequent as `1 - confidence`?
pub fn kupiec_pof(exceptions: &[bool], confidence: f64) -> Result<LrTest, RiskError> {
    check_confidence(confidence)?;
    if exceptions.is_empty() {
        return Err(RiskError::TooShort {
            field: "exceptions",
            min: 1,
        });
    }
    let t = exceptions.len() as f64;
    let x = exceptions.iter().filter(|e| **e).count() as f64;
    let p = 1.0 - confidence;
    let phat = x / t;
    let ll0 = xlogy(t - x, 1.0 - p) + xlogy(x, p);
    let ll1 = xlogy(t - x, 1.0 - phat) + xlogy(x, phat);
    let stat = (-2.0 * (ll0 - ll1)).max(0.0);
    Ok(LrTest {
        statistic: stat,
        p_value: chi2_sf(stat, 1.0),
        degrees_of_freedom: 1,
    })
}

/// Christoffersen's independence test: does an exception make the next one more likely?
pub fn christoffersen_independence(exceptions: &[bool]) -> Result<LrTest, RiskError> {
    if exceptions.len() < 2 {
        return Err(RiskError::TooShort {
            field: "exceptions",
            min: 2,
        });
    }
    let mut n = [[0.0f64; 2]; 2];
    for w in exceptions.windows(2) {
        n[w[0] as usize][w[1] as usize] += 1.0;
    }
    let (n00, n01, n10, n11) = (n[0][0], n[0][1], n[1][0], n[1][1]);
    let pi0 = if n00 + n01 > 0.0 {
        n01 / (n00 + n01)
    } else {
        0.0
    };
    let pi1 = if n10 + n11 > 0.0 {
        n11 / (n10 + n11)
    } else {
        0.0
    };
    let pi = (n01 + n11) / (n00 + n01 + n10 + n11);
    let ll0 = xlogy(n00 + n10, 1.0 - pi) + xlogy(n01 + n11, pi);
    let ll1 = xlogy(n00, 1.0 - pi0) + xlogy(n01, pi0) + xlogy(n10, 1.0 - pi1) + xlogy(n11, pi1);
    let stat = (-2.0 * (ll0 - ll1)).max(0.0);
    Ok(LrTest {
        statistic: stat,
        p_value: chi2_sf(stat, 1.0),
        degrees_of_freedom: 1,
    })
}

/// Christoffersen's conditional coverage: Kupiec + independence, chi-square with 2 dof.
pub fn christoffersen_conditional_coverage(
    exceptions: &[bool],
    confidence: f64,
) -> Result<LrTest, RiskError> {
    let stat = kupiec_pof(exceptions, confidence)?.statistic
        + christoffersen_independence(exceptions)?.statistic;
    Ok(LrTest {
        statistic: stat,
        p_value: chi2_sf(stat, 2.0),
        degrees_of_freedom: 2,
    })
}

/// The normal CDF, re-exported for callers converting a VaR back to a probability.
pub fn normal_cdf(x: f64) -> f64 {
    norm_cdf(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn historical_var_and_es_of_a_small_sample_by_hand() {
        // Sorted: -5,-4,-3,-2,-1,0,1,2,3,4. 20% quantile: h = 9 * 0.2 = 1.8 -> -4 + 0.8 = -3.2
        let r: Vec<f64> = (-5..5).map(f64::from).collect();
        let v = historical(&r, 0.8).unwrap();
        assert!((v.var - 3.2).abs() < 1e-12);
        assert!((v.es - 4.5).abs() < 1e-12); // mean of -5, -4
    }

    #[test]
    fn bad_inputs_are_errors_not_numbers() {
        assert!(historical(&[1.0, f64::NAN], 0.99).is_err());
        assert!(historical(&[1.0, f64::INFINITY], 0.99).is_err());
        assert!(historical(&[], 0.99).is_err());
        assert!(historical(&[1.0, 2.0], 1.0).is_err());
        assert!(historical(&[1.0, 2.0], f64::NAN).is_err());
        assert!(normal_var_es(0.0, f64::NAN, 0.99).is_err());
        assert!(ewma_covariance(&[1.0, 2.0], 2, 1.0).is_err());
        assert!(sample_covariance(&[1.0, 2.0, 3.0], 2).is_err());
        assert!(
            portfolio_monte_carlo(&[0.0; 2], &[1.0, 2.0, 2.0, 1.0], &[1.0, 1.0], 0.99, 10, 1)
                .is_err()
        );
        assert!(kupiec_pof(&[], 0.99).is_err());
    }

    #[test]
    fn kupiec_is_zero_when_the_rate_is_exact_and_large_when_not() {
        let mut e = vec![false; 1000];
        for k in (0..1000).step_by(100) {
            e[k] = true; // exactly 1%
        }
        let t = kupiec_pof(&e, 0.99).unwrap();
        assert!(t.statistic.abs() < 1e-9 && (t.p_value - 1.0).abs() < 1e-6);
        let e = vec![true; 50]
            .into_iter()
            .chain(vec![false; 950])
            .collect::<Vec<_>>();
        assert!(kupiec_pof(&e, 0.99).unwrap().p_value < 1e-10);
        // Clustered exceptions fail independence.
        assert!(christoffersen_independence(&e).unwrap().p_value < 1e-10);
    }
}
