//! VaR/ES, VaR backtests, Kelly and the special functions behind them against an
//! independent numpy/scipy computation on real BTC returns, stored in
//! `tests/data/risk_fixtures.json` by `tests/data/make_risk_fixtures.py`.
//!
//! Deterministic values agree to 1e-9 relative. Monte Carlo values are compared with the
//! normal closed form within five asymptotic standard errors of the estimator (see
//! `mc_tolerance`), so a wrong generator, a wrong Cholesky factor or a wrong tail
//! estimator fails, while sampling noise (about one chance in 1.7 million per value) does
//! not.

use std::io::Read;

use baconalgo_core::risk::{kelly, stats, var, VarEs};
use serde_json::Value;

const REL: f64 = 1e-9;

fn fixtures() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/risk_fixtures.json");
    let text = std::fs::read_to_string(path).expect("risk fixture file");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// Close, high and low log returns of the bundled BTC bars, as the script computes them.
fn returns() -> [Vec<f64>; 3] {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/bars/btc_perp_1m_2022-01.csv.gz"
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("bars file"))
        .read_to_string(&mut text)
        .expect("gunzip bars");
    let mut cols: [Vec<f64>; 3] = Default::default();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        // timestamp,open,high,low,close,volume -> close, high, low
        for (c, idx) in cols.iter_mut().zip([4, 2, 3]) {
            c.push(f[idx].parse::<f64>().expect("price").ln());
        }
    }
    cols.map(|logs| logs.windows(2).map(|w| w[1] - w[0]).collect())
}

fn f(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

#[track_caller]
fn close(got: f64, want: f64, what: &str) {
    let tol = REL * want.abs().max(got.abs());
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:e}, scipy {want:e}, diff {:e}",
        (got - want).abs()
    );
}

#[track_caller]
fn close_var_es(got: VarEs, want: &Value, what: &str) {
    close(got.var, f(&want["var"]), &format!("{what} VaR"));
    close(got.es, f(&want["es"]), &format!("{what} ES"));
}

fn rows(cols: &[Vec<f64>; 3]) -> Vec<f64> {
    (0..cols[0].len())
        .flat_map(|t| [cols[0][t], cols[1][t], cols[2][t]])
        .collect()
}

fn vecf(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(f).collect()
}

#[test]
fn single_asset_var_es_match_scipy() {
    let fx = fixtures();
    let [r, _, _] = returns();
    assert_eq!(r.len() as u64, fx["n_returns"].as_u64().unwrap());
    let m = &fx["moments"];
    close(stats::mean(&r), f(&m["mean"]), "mean");
    close(stats::variance(&r).sqrt(), f(&m["std"]), "std");
    let (s, k) = stats::skew_kurtosis(&r);
    close(s, f(&m["skew"]), "skew");
    close(k, f(&m["excess_kurtosis"]), "kurtosis");
    for c in [0.95, 0.99] {
        let want = &fx["single"][c.to_string()];
        close_var_es(
            var::historical(&r, c).unwrap(),
            &want["historical"],
            &format!("historical {c}"),
        );
        close_var_es(
            var::parametric_normal(&r, c).unwrap(),
            &want["normal"],
            &format!("normal {c}"),
        );
        close_var_es(
            var::cornish_fisher(&r, c).unwrap(),
            &want["cornish_fisher"],
            &format!("Cornish-Fisher {c}"),
        );
    }
}

#[test]
fn portfolio_var_es_and_covariances_match_numpy() {
    let fx = fixtures();
    let cols = returns();
    let m = rows(&cols);
    let w = vecf(&fx["weights"]);
    let means = var::column_means(&m, 3).unwrap();
    for (g, e) in means.iter().zip(vecf(&fx["means"])) {
        close(*g, e, "column mean");
    }
    let cov = var::sample_covariance(&m, 3).unwrap();
    for (g, e) in cov.iter().zip(vecf(&fx["cov_sample"])) {
        close(*g, e, "sample covariance");
    }
    let ewma = var::ewma_covariance(&m, 3, f(&fx["ewma_lambda"])).unwrap();
    for (g, e) in ewma.iter().zip(vecf(&fx["cov_ewma"])) {
        close(*g, e, "EWMA covariance");
    }
    let rp = var::portfolio_returns(&m, 3, &w).unwrap();
    for c in [0.95, 0.99] {
        let want = &fx["portfolio"][c.to_string()];
        close_var_es(
            var::historical(&rp, c).unwrap(),
            &want["historical"],
            "portfolio historical",
        );
        close_var_es(
            var::cornish_fisher(&rp, c).unwrap(),
            &want["cornish_fisher"],
            "portfolio CF",
        );
        close_var_es(
            var::portfolio_parametric(&means, &cov, &w, c).unwrap(),
            &want["normal_sample_cov"],
            "portfolio normal (sample cov)",
        );
        close_var_es(
            var::portfolio_parametric(&[0.0; 3], &ewma, &w, c).unwrap(),
            &want["normal_ewma_cov_zero_mean"],
            "portfolio normal (EWMA cov)",
        );
    }
}

/// Five standard errors of the historical VaR and ES estimators on `n` normal draws with
/// standard deviation `sd`: VaR (a quantile) has SE sqrt(p(1-p)/n) / f(q) with density
/// f(q) = φ(z)/sd; ES (a tail mean) has SE sqrt((Var[X | X <= q] + (1-p)(ES - VaR)²)/(n p))
/// (the tail mean's own variance plus the effect of the estimated cut-off).
fn mc_tolerance(sd: f64, c: f64, n: usize) -> (f64, f64) {
    let p = 1.0 - c;
    let z = stats::norm_ppf(c);
    let phi = stats::norm_pdf(z);
    let se_var = (p * (1.0 - p) / n as f64).sqrt() * sd / phi;
    // Lower tail below -z of a standard normal: mean -φ/p, variance 1 + zφ/p - (φ/p)².
    let lam = phi / p;
    let tail_var = (1.0 + z * lam - lam * lam) * sd * sd;
    let es_minus_var = sd * (lam - z);
    let se_es = ((tail_var + (1.0 - p) * es_minus_var * es_minus_var) / (n as f64 * p)).sqrt();
    (5.0 * se_var, 5.0 * se_es)
}

#[test]
fn monte_carlo_var_es_agree_with_the_normal_closed_form() {
    let fx = fixtures();
    let cols = returns();
    let m = rows(&cols);
    let w = vecf(&fx["weights"]);
    let means = var::column_means(&m, 3).unwrap();
    let cov = var::sample_covariance(&m, 3).unwrap();
    let mu = f(&fx["moments"]["mean"]);
    let sd = f(&fx["moments"]["std"]);
    let n = 400_000;
    for c in [0.95, 0.99] {
        let (tv, te) = mc_tolerance(sd, c, n);
        let want = &fx["single"][c.to_string()]["normal"];
        let got = var::monte_carlo_normal(mu, sd, c, n, 42).unwrap();
        assert!(
            (got.var - f(&want["var"])).abs() < tv,
            "MC VaR {c}: {} vs {} (tol {tv:e})",
            got.var,
            f(&want["var"])
        );
        assert!(
            (got.es - f(&want["es"])).abs() < te,
            "MC ES {c}: {} vs {} (tol {te:e})",
            got.es,
            f(&want["es"])
        );

        let sd_p: f64 = {
            let mut v = 0.0;
            for i in 0..3 {
                for j in 0..3 {
                    v += w[i] * cov[i * 3 + j] * w[j];
                }
            }
            v.sqrt()
        };
        let (tv, te) = mc_tolerance(sd_p, c, n);
        let want = &fx["portfolio"][c.to_string()]["normal_sample_cov"];
        let got = var::portfolio_monte_carlo(&means, &cov, &w, c, n, 7).unwrap();
        assert!(
            (got.var - f(&want["var"])).abs() < tv,
            "portfolio MC VaR {c}"
        );
        assert!((got.es - f(&want["es"])).abs() < te, "portfolio MC ES {c}");
    }
    // Seeded: the same seed gives the same bits, another seed another sample.
    let a = var::monte_carlo_normal(mu, sd, 0.99, 10_000, 1).unwrap();
    assert_eq!(a, var::monte_carlo_normal(mu, sd, 0.99, 10_000, 1).unwrap());
    assert_ne!(a, var::monte_carlo_normal(mu, sd, 0.99, 10_000, 2).unwrap());
}

#[test]
fn kupiec_and_christoffersen_backtests_match_scipy() {
    let fx = fixtures();
    let bt = &fx["backtest"];
    let [r, _, _] = returns();
    let window = bt["window"].as_u64().unwrap() as usize;
    let c = f(&bt["confidence"]);
    let forecast = var::rolling_historical_var(&r, window, c).unwrap();
    let exc = var::exceptions(&r, &forecast).unwrap();
    assert_eq!(exc.len() as u64, bt["n"].as_u64().unwrap());
    assert_eq!(
        exc.iter().filter(|e| **e).count() as u64,
        bt["exceptions"].as_u64().unwrap()
    );
    let mut n = [0u64; 4];
    for w in exc.windows(2) {
        n[usize::from(w[0]) * 2 + usize::from(w[1])] += 1;
    }
    assert_eq!(
        n.to_vec(),
        bt["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect::<Vec<_>>()
    );
    let k = var::kupiec_pof(&exc, c).unwrap();
    close(k.statistic, f(&bt["kupiec_lr"]), "Kupiec LR");
    close(k.p_value, f(&bt["kupiec_p"]), "Kupiec p");
    let i = var::christoffersen_independence(&exc).unwrap();
    close(
        i.statistic,
        f(&bt["christoffersen_lr"]),
        "Christoffersen LR",
    );
    close(i.p_value, f(&bt["christoffersen_p"]), "Christoffersen p");
    let cc = var::christoffersen_conditional_coverage(&exc, c).unwrap();
    close(cc.statistic, f(&bt["cc_lr"]), "conditional coverage LR");
    close(cc.p_value, f(&bt["cc_p"]), "conditional coverage p");
}

#[test]
fn kelly_fractions_match_scipy() {
    let fx = fixtures();
    let k = &fx["kelly"];
    for case in k["discrete"].as_array().unwrap() {
        let got = kelly::discrete(f(&case["p"]), f(&case["b"])).unwrap();
        // brentq's answer carries its own ~1e-16 absolute error, relevant near f = 0.
        assert!(
            (got - f(&case["f"])).abs() <= 1e-9 * f(&case["f"]).abs().max(1e-6),
            "discrete Kelly {case}"
        );
    }
    let cols = returns();
    let r = &cols[0];
    close(
        kelly::continuous(stats::mean(r), stats::variance(r)).unwrap(),
        f(&k["continuous"]),
        "continuous Kelly",
    );
    let m = rows(&cols);
    let means = var::column_means(&m, 3).unwrap();
    let cov = var::sample_covariance(&m, 3).unwrap();
    let w = kelly::multi_asset(&means, &cov).unwrap();
    for (g, e) in w.iter().zip(vecf(&k["multi_asset"])) {
        // Cholesky here, LU in numpy: on a covariance of three highly correlated series the
        // two solvers differ by the matrix's condition number times machine epsilon.
        assert!(
            (g - e).abs() <= 1e-7 * e.abs(),
            "multi-asset Kelly {g} vs {e}"
        );
    }
}

#[test]
fn special_functions_match_scipy() {
    let fx = fixtures();
    let s = &fx["special"];
    for pair in s["norm_ppf"].as_array().unwrap() {
        close(
            stats::norm_ppf(f(&pair[0])),
            f(&pair[1]),
            &format!("norm.ppf({})", pair[0]),
        );
    }
    for pair in s["norm_cdf"].as_array().unwrap() {
        close(
            stats::norm_cdf(f(&pair[0])),
            f(&pair[1]),
            &format!("norm.cdf({})", pair[0]),
        );
    }
    for t in s["chi2_sf"].as_array().unwrap() {
        close(
            stats::chi2_sf(f(&t[0]), f(&t[1])),
            f(&t[2]),
            &format!("chi2.sf({}, {})", t[0], t[1]),
        );
    }
}
