//! Performance statistics of a backtest, from its equity curve and trades.
//!
//! Bar returns are vectorbt's: `r[0] = equity[0] / init_cash - 1`, then
//! `r[t] = equity[t] / equity[t-1] - 1`. `ann_factor` is the number of bars per year
//! (vectorbt: `year_freq / freq`, 365 days by default, so 525,600 for 1-minute bars).
//! Formulas (NaN returns are skipped in means, as vectorbt's `nanmean`):
//!
//! * `total_return = equity[n-1] / init_cash - 1`;
//! * `cagr = prod(1 + r)^(ann_factor / n) - 1` (vectorbt `annualized_return`);
//! * `sharpe = mean(r) / std(r, ddof = 1) x sqrt(ann_factor)` (risk-free 0);
//! * `sortino = mean(r) x ann_factor / (sqrt(mean(min(r, 0)^2)) x sqrt(ann_factor))`;
//! * `max_drawdown = max over t of 1 - V[t] / max(V[..=t])` with `V` the compounded
//!   returns, a positive fraction (vectorbt reports it negative);
//! * `calmar = cagr / max_drawdown` (NaN when there is no drawdown);
//! * `win_rate` = share of closed trades with `pnl > 0`; `profit_factor = sum of winning
//!   pnl / |sum of losing pnl|` over closed trades (vectorbt's trade statistics);
//! * `exposure` = share of bars ending with a non-zero position;
//! * `turnover` = traded notional (sum of `size x price` over orders) divided by the
//!   mean equity. These two have no vectorbt counterpart in `stats()`.

use super::vectorized::Portfolio;

/// Statistics of one backtest (see the module docs for each formula).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Metrics {
    pub total_return: f64,
    pub cagr: f64,
    pub sharpe: f64,
    pub sortino: f64,
    pub max_drawdown: f64,
    pub calmar: f64,
    pub win_rate: f64,
    pub profit_factor: f64,
    pub exposure: f64,
    pub turnover: f64,
    pub closed_trades: usize,
}

/// vectorbt `get_return_nb`.
fn bar_return(input: f64, output: f64) -> f64 {
    if input == 0.0 {
        if output == 0.0 {
            return 0.0;
        }
        return f64::INFINITY * output.signum();
    }
    let r = (output - input) / input;
    if input < 0.0 {
        -r
    } else {
        r
    }
}

/// Bar returns of an equity curve.
pub fn returns(equity: &[f64], init_cash: f64) -> Vec<f64> {
    let mut prev = init_cash;
    equity
        .iter()
        .map(|&v| {
            let r = bar_return(prev, v);
            prev = v;
            r
        })
        .collect()
}

fn nanmean(x: &[f64]) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for &v in x.iter().filter(|v| !v.is_nan()) {
        s += v;
        n += 1;
    }
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

/// `np.nanstd` with `ddof`.
fn nanstd(x: &[f64], ddof: usize) -> f64 {
    let m = nanmean(x);
    let cnt = x.iter().filter(|v| !v.is_nan()).count();
    if cnt <= ddof {
        return f64::NAN;
    }
    let ss: f64 = x
        .iter()
        .filter(|v| !v.is_nan())
        .map(|v| (v - m) * (v - m))
        .sum();
    (ss / cnt as f64 * cnt as f64 / (cnt - ddof) as f64).sqrt()
}

/// Sharpe ratio of bar returns (risk-free 0, ddof 1).
pub fn sharpe(r: &[f64], ann_factor: f64) -> f64 {
    if r.len() < 2 {
        return f64::NAN;
    }
    let std = nanstd(r, 1);
    if std == 0.0 {
        return f64::INFINITY;
    }
    nanmean(r) / std * ann_factor.sqrt()
}

/// Sortino ratio of bar returns (required return 0).
pub fn sortino(r: &[f64], ann_factor: f64) -> f64 {
    if r.len() < 2 {
        return f64::NAN;
    }
    let down: Vec<f64> = r
        .iter()
        .map(|&v| if v > 0.0 { 0.0 } else { v * v })
        .collect();
    let downside = nanmean(&down).sqrt() * ann_factor.sqrt();
    if downside == 0.0 {
        return f64::INFINITY;
    }
    nanmean(r) * ann_factor / downside
}

/// Annualized (compounded) return.
pub fn cagr(r: &[f64], ann_factor: f64) -> f64 {
    if r.is_empty() {
        return f64::NAN;
    }
    let end: f64 = r.iter().filter(|v| !v.is_nan()).map(|v| v + 1.0).product();
    end.powf(ann_factor / r.len() as f64) - 1.0
}

/// Largest fall from a running peak of the compounded returns, as a positive fraction.
pub fn max_drawdown(r: &[f64]) -> f64 {
    let mut value = 100.0;
    let mut peak = f64::NEG_INFINITY;
    let mut worst: f64 = 0.0;
    for &x in r {
        if !x.is_nan() {
            value *= x + 1.0;
        }
        peak = peak.max(value);
        worst = worst.min(value / peak - 1.0);
    }
    -worst
}

/// All statistics of a portfolio.
pub fn compute(pf: &Portfolio, ann_factor: f64) -> Metrics {
    let r = returns(&pf.equity, pf.init_cash);
    let n = pf.equity.len();
    let total_return = pf
        .equity
        .last()
        .map_or(f64::NAN, |&v| bar_return(pf.init_cash, v));
    let cagr = cagr(&r, ann_factor);
    let mdd = max_drawdown(&r);
    let closed: Vec<f64> = pf
        .trades
        .iter()
        .filter(|t| !t.is_open)
        .map(|t| t.pnl)
        .collect();
    let wins: f64 = closed.iter().filter(|&&p| p > 0.0).sum();
    let losses: f64 = closed.iter().filter(|&&p| p < 0.0).sum();
    let win_rate = if closed.is_empty() {
        f64::NAN
    } else {
        closed.iter().filter(|&&p| p > 0.0).count() as f64 / closed.len() as f64
    };
    let notional: f64 = pf.orders.iter().map(|o| o.size * o.price).sum();
    let mean_equity = nanmean(&pf.equity);
    Metrics {
        total_return,
        cagr,
        sharpe: sharpe(&r, ann_factor),
        sortino: sortino(&r, ann_factor),
        max_drawdown: mdd,
        calmar: if mdd == 0.0 { f64::NAN } else { cagr / mdd },
        win_rate,
        profit_factor: wins / losses.abs(),
        exposure: if n == 0 {
            f64::NAN
        } else {
            pf.position.iter().filter(|&&p| p != 0.0).count() as f64 / n as f64
        },
        turnover: notional / mean_equity,
        closed_trades: closed.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_worked_returns_drawdown_and_ratios() {
        // Equity 100 -> 110 -> 99 -> 121 from 100.
        let r = returns(&[110.0, 99.0, 121.0], 100.0);
        assert!((r[0] - 0.1).abs() < 1e-15 && (r[1] + 0.1).abs() < 1e-15);
        assert!((r[2] - 22.0 / 99.0).abs() < 1e-15);
        // Peak 110, trough 99: 10 %.
        assert!((max_drawdown(&r) - 0.1).abs() < 1e-12);
        // Compounded 1.21 over 3 bars, 3 bars a year: CAGR 21 %.
        assert!((cagr(&r, 3.0) - 0.21).abs() < 1e-12);
        let mean = (0.1 - 0.1 + 22.0 / 99.0) / 3.0;
        let var = [0.1, -0.1, 22.0 / 99.0]
            .iter()
            .map(|x| (x - mean) * (x - mean))
            .sum::<f64>()
            / 2.0;
        assert!((sharpe(&r, 4.0) - mean / var.sqrt() * 2.0).abs() < 1e-12);
        let down = (0.01f64 / 3.0).sqrt();
        assert!((sortino(&r, 4.0) - mean * 4.0 / (down * 2.0)).abs() < 1e-12);
    }
}
