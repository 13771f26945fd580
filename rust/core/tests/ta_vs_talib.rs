//! Every indicator in `baconalgo_core::ta` against the real TA-Lib's outputs, stored in
//! `tests/data/ta_fixtures.txt.gz` by `tests/data/make_ta_fixtures.py`: values equal to
//! 1e-9 relative, NaN in the same positions, the same parameters rejected.

use std::collections::BTreeMap;
use std::io::Read;

use baconalgo_core::ta::{self, MaType, TaError};

struct Dataset {
    name: String,
    cols: BTreeMap<String, Vec<f64>>,
    session: Vec<i64>,
}

enum Record {
    Call {
        func: String,
        params: Vec<f64>,
        output: usize,
        expected: Vec<f64>,
    },
    Error {
        func: String,
        params: Vec<f64>,
    },
}

fn parse_hex(tok: &str) -> f64 {
    f64::from_bits(u64::from_str_radix(tok, 16).expect("fixture hex"))
}

fn parse_params(tok: &str) -> Vec<f64> {
    if tok == "-" {
        return Vec::new();
    }
    tok.split(',').map(|p| p.parse().expect("param")).collect()
}

fn load() -> Vec<(Dataset, Vec<Record>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ta_fixtures.txt.gz");
    let file = std::fs::File::open(path).expect("fixture file");
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .expect("gunzip fixtures");
    let mut out: Vec<(Dataset, Vec<Record>)> = Vec::new();
    for line in text.lines() {
        let mut toks = line.split(' ');
        match toks.next() {
            Some("D") => out.push((
                Dataset {
                    name: toks.next().unwrap().to_string(),
                    cols: BTreeMap::new(),
                    session: Vec::new(),
                },
                Vec::new(),
            )),
            Some("I") => {
                let ds = &mut out.last_mut().unwrap().0;
                let col = toks.next().unwrap();
                if col == "session" {
                    ds.session = toks.map(|t| t.parse().unwrap()).collect();
                } else {
                    ds.cols
                        .insert(col.to_string(), toks.map(parse_hex).collect());
                }
            }
            Some("C") => {
                let func = toks.next().unwrap().to_string();
                let params = parse_params(toks.next().unwrap());
                let output = toks.next().unwrap().parse().unwrap();
                let expected = toks.map(parse_hex).collect();
                out.last_mut().unwrap().1.push(Record::Call {
                    func,
                    params,
                    output,
                    expected,
                });
            }
            Some("E") => {
                let func = toks.next().unwrap().to_string();
                let params = parse_params(toks.next().unwrap());
                out.last_mut()
                    .unwrap()
                    .1
                    .push(Record::Error { func, params });
            }
            _ => {}
        }
    }
    out
}

fn ma(code: f64) -> Result<MaType, TaError> {
    MaType::from_code(code as u32)
}

/// Runs the Rust kernel for a fixture call; returns all outputs in `talib`'s order.
fn run(ds: &Dataset, func: &str, p: &[f64]) -> Result<Vec<Vec<f64>>, TaError> {
    let c = |k: &str| ds.cols[k].as_slice();
    let (o, h, l, cl, v) = (c("open"), c("high"), c("low"), c("close"), c("volume"));
    let _ = o;
    let u = |i: usize| p[i] as usize;
    Ok(match func {
        "SMA" => vec![ta::sma(cl, u(0))?],
        "EMA" => vec![ta::ema(cl, u(0))?],
        "WMA" => vec![ta::wma(cl, u(0))?],
        "DEMA" => vec![ta::dema(cl, u(0))?],
        "TEMA" => vec![ta::tema(cl, u(0))?],
        "KAMA" => vec![ta::kama(cl, u(0))?],
        "RSI" => vec![ta::rsi(cl, u(0))?],
        "MACD" => {
            let (a, b, c) = ta::macd(cl, u(0), u(1), u(2))?;
            vec![a, b, c]
        }
        "BBANDS" => {
            let (a, b, c) = ta::bbands(cl, u(0), p[1], p[2], ma(p[3])?)?;
            vec![a, b, c]
        }
        "STDDEV" => vec![ta::stddev(cl, u(0), p[1])?],
        "ATR" => vec![ta::atr(h, l, cl, u(0))?],
        "NATR" => vec![ta::natr(h, l, cl, u(0))?],
        "ADX" => vec![ta::adx(h, l, cl, u(0))?],
        "PLUS_DI" => vec![ta::plus_di(h, l, cl, u(0))?],
        "MINUS_DI" => vec![ta::minus_di(h, l, cl, u(0))?],
        "CCI" => vec![ta::cci(h, l, cl, u(0))?],
        "WILLR" => vec![ta::willr(h, l, cl, u(0))?],
        "TRANGE" => vec![ta::trange(h, l, cl)?],
        "STOCH" => {
            let (k, d) = ta::stoch(h, l, cl, u(0), u(1), ma(p[2])?, u(3), ma(p[4])?)?;
            vec![k, d]
        }
        "STOCHRSI" => {
            let (k, d) = ta::stochrsi(cl, u(0), u(1), u(2), ma(p[3])?)?;
            vec![k, d]
        }
        "MFI" => vec![ta::mfi(h, l, cl, v, u(0))?],
        "ROC" => vec![ta::roc(cl, u(0))?],
        "MOM" => vec![ta::mom(cl, u(0))?],
        "OBV" => vec![ta::obv(cl, v)?],
        "AROON" => {
            let (d, up) = ta::aroon(h, l, u(0))?;
            vec![d, up]
        }
        "VWAP_SESSION" => vec![ta::vwap_session(h, l, cl, v, &ds.session)?],
        "VWAP_ROLLING" => vec![ta::vwap_rolling(h, l, cl, v, u(0))?],
        other => panic!("fixture names unknown function {other}"),
    })
}

fn close_enough(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Every output column of one call, or the parameters' rejection.
type Outputs = Result<Vec<Vec<f64>>, TaError>;

#[test]
fn every_indicator_matches_talib_fixtures() {
    let data = load();
    assert!(data.len() >= 5, "fixture datasets missing");
    let mut checked = 0usize;
    let mut failures: Vec<String> = Vec::new();
    let mut cache: BTreeMap<(String, String), Outputs> = BTreeMap::new();
    for (ds, records) in &data {
        cache.clear();
        for rec in records {
            match rec {
                Record::Call {
                    func,
                    params,
                    output,
                    expected,
                } => {
                    let key = (func.clone(), format!("{params:?}"));
                    let got = cache.entry(key).or_insert_with(|| run(ds, func, params));
                    let got = match got {
                        Ok(v) => &v[*output],
                        Err(e) => {
                            failures.push(format!("{}: {func}{params:?} failed: {e}", ds.name));
                            continue;
                        }
                    };
                    assert_eq!(got.len(), expected.len());
                    let bad: Vec<usize> = (0..got.len())
                        .filter(|&i| !close_enough(got[i], expected[i]))
                        .collect();
                    let inexact = (0..got.len())
                        .filter(|&i| {
                            got[i].to_bits() != expected[i].to_bits()
                                && !(got[i].is_nan() && expected[i].is_nan())
                        })
                        .count();
                    if inexact > 0 && std::env::var_os("TA_BITS").is_some() {
                        eprintln!(
                            "bits: {}: {func}{params:?}[{output}] {inexact} not bit-identical",
                            ds.name
                        );
                    }
                    if let Some(&i) = bad.first() {
                        failures.push(format!(
                            "{}: {func}{params:?}[{output}] differs at {} of {} positions; first at {i}: got {:e}, talib {:e}",
                            ds.name,
                            bad.len(),
                            got.len(),
                            got[i],
                            expected[i]
                        ));
                    }
                    checked += 1;
                }
                Record::Error { func, params } => {
                    if run(ds, func, params).is_ok() {
                        failures.push(format!(
                            "{}: {func}{params:?} accepted, talib rejects",
                            ds.name
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 500, "only {checked} outputs checked");
}
