//! Properties of `baconalgo_core::ta` that hold for any input: the streaming structs give
//! bit for bit what the batch kernels write, f32 input equals its f64 widening, the 2-D
//! kernels equal the 1-D kernel per column, and bad parameters are errors, not panics.

use baconalgo_core::ta::stream::{
    Adx, Aroon, Atr, Bbands, Cci, Dema, Ema, Indicator, Kama, Macd, Mfi, MinusDi, Mom, Natr, Obv,
    PlusDi, Roc, Rsi, Sma, Stddev, Stoch, StochRsi, Tema, Trange, Trima, VwapRolling, VwapSession,
    Willr, Wma, T3,
};
use baconalgo_core::ta::{self, matrix, Bar, MaType, TaError};
use proptest::prelude::*;

/// Same bits, treating every NaN alike.
fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn assert_same(name: &str, batch: &[f64], stream: &[f64]) {
    assert_eq!(batch.len(), stream.len());
    for (i, (a, b)) in batch.iter().zip(stream).enumerate() {
        assert!(same(*a, *b), "{name}: batch {a:e} != stream {b:e} at {i}");
    }
}

/// OHLCV bars from a random walk; `tick` > 0 rounds prices so ties are common.
fn bars() -> impl Strategy<Value = Vec<Bar>> {
    (
        prop::collection::vec(
            (-2.0f64..2.0, 0.0f64..1.5, 0.0f64..1.5, 0.0f64..500.0),
            0..240,
        ),
        prop::sample::select(vec![0.0, 0.25, 1.0]),
        prop::sample::select(vec![1.0, 1e-4, 1e4]),
    )
        .prop_map(|(steps, tick, scale)| {
            let mut price = 100.0;
            steps
                .into_iter()
                .map(|(d, up, down, volume)| {
                    price += d;
                    let round = |x: f64| {
                        if tick > 0.0 {
                            (x / tick).round() * tick
                        } else {
                            x
                        }
                    };
                    let close = round(price) * scale;
                    let high = round(price + up) * scale;
                    let low = round(price - down) * scale;
                    Bar::new(
                        close,
                        high.max(close),
                        low.min(close),
                        close,
                        volume.round(),
                    )
                })
                .collect()
        })
}

fn cols(bars: &[Bar]) -> [Vec<f64>; 4] {
    [
        bars.iter().map(|b| b.high).collect(),
        bars.iter().map(|b| b.low).collect(),
        bars.iter().map(|b| b.close).collect(),
        bars.iter().map(|b| b.volume).collect(),
    ]
}

fn stream_real<S: Indicator<Input = f64, Output = f64>>(mut s: S, x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| s.update(v)).collect()
}

fn stream_bars<S: Indicator<Input = Bar, Output = f64>>(mut s: S, bars: &[Bar]) -> Vec<f64> {
    bars.iter().map(|&b| s.update(b)).collect()
}

const MA_TYPES: [MaType; 8] = [
    MaType::Sma,
    MaType::Ema,
    MaType::Wma,
    MaType::Dema,
    MaType::Tema,
    MaType::Kama,
    MaType::Trima,
    MaType::T3,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn streaming_matches_batch_bit_for_bit(bars in bars(), p in 1usize..20, m in 0usize..8) {
        let [h, l, c, v] = cols(&bars);
        let p2 = p.max(2);
        let ma = MA_TYPES[m];

        assert_same("SMA", &ta::sma(&c, p).unwrap(), &stream_real(Sma::new(p).unwrap(), &c));
        assert_same("EMA", &ta::ema(&c, p).unwrap(), &stream_real(Ema::new(p).unwrap(), &c));
        assert_same("WMA", &ta::wma(&c, p).unwrap(), &stream_real(Wma::new(p).unwrap(), &c));
        assert_same("DEMA", &ta::dema(&c, p).unwrap(), &stream_real(Dema::new(p).unwrap(), &c));
        assert_same("TEMA", &ta::tema(&c, p).unwrap(), &stream_real(Tema::new(p).unwrap(), &c));
        assert_same("KAMA", &ta::kama(&c, p).unwrap(), &stream_real(Kama::new(p).unwrap(), &c));
        assert_same("TRIMA", &ta::trima(&c, p).unwrap(), &stream_real(Trima::new(p).unwrap(), &c));
        assert_same("T3", &ta::t3(&c, p, 0.7).unwrap(), &stream_real(T3::new(p, 0.7).unwrap(), &c));
        assert_same("RSI", &ta::rsi(&c, p2).unwrap(), &stream_real(Rsi::new(p2).unwrap(), &c));
        assert_same("MOM", &ta::mom(&c, p).unwrap(), &stream_real(Mom::new(p).unwrap(), &c));
        assert_same("ROC", &ta::roc(&c, p).unwrap(), &stream_real(Roc::new(p).unwrap(), &c));
        assert_same(
            "STDDEV",
            &ta::stddev(&c, p2, 1.5).unwrap(),
            &stream_real(Stddev::new(p2, 1.5).unwrap(), &c),
        );

        let (u, mid, lo) = ta::bbands(&c, p2, 2.0, 1.5, ma).unwrap();
        let mut s = Bbands::new(p2, 2.0, 1.5, ma).unwrap();
        let sb: Vec<_> = c.iter().map(|&x| s.update(x)).collect();
        assert_same("BBANDS.upper", &u, &sb.iter().map(|o| o.upper).collect::<Vec<_>>());
        assert_same("BBANDS.middle", &mid, &sb.iter().map(|o| o.middle).collect::<Vec<_>>());
        assert_same("BBANDS.lower", &lo, &sb.iter().map(|o| o.lower).collect::<Vec<_>>());

        let (fast, slow) = (p2, p2 + 3);
        let (mac, sig, hist) = ta::macd(&c, fast, slow, p).unwrap();
        let mut s = Macd::new(fast, slow, p).unwrap();
        let sm: Vec<_> = c.iter().map(|&x| s.update(x)).collect();
        assert_same("MACD", &mac, &sm.iter().map(|o| o.macd).collect::<Vec<_>>());
        assert_same("MACD.signal", &sig, &sm.iter().map(|o| o.signal).collect::<Vec<_>>());
        assert_same("MACD.hist", &hist, &sm.iter().map(|o| o.hist).collect::<Vec<_>>());

        let (k, d) = ta::stochrsi(&c, p2, p, 3, ma).unwrap();
        let mut s = StochRsi::new(p2, p, 3, ma).unwrap();
        let ss: Vec<_> = c.iter().map(|&x| s.update(x)).collect();
        assert_same("STOCHRSI.k", &k, &ss.iter().map(|o| o.fastk).collect::<Vec<_>>());
        assert_same("STOCHRSI.d", &d, &ss.iter().map(|o| o.fastd).collect::<Vec<_>>());

        assert_same("TRANGE", &ta::trange(&h, &l, &c).unwrap(), &stream_bars(Trange::new(), &bars));
        assert_same("ATR", &ta::atr(&h, &l, &c, p).unwrap(), &stream_bars(Atr::new(p).unwrap(), &bars));
        assert_same("NATR", &ta::natr(&h, &l, &c, p).unwrap(), &stream_bars(Natr::new(p).unwrap(), &bars));
        assert_same("ADX", &ta::adx(&h, &l, &c, p2).unwrap(), &stream_bars(Adx::new(p2).unwrap(), &bars));
        assert_same("PLUS_DI", &ta::plus_di(&h, &l, &c, p).unwrap(), &stream_bars(PlusDi::new(p).unwrap(), &bars));
        assert_same("MINUS_DI", &ta::minus_di(&h, &l, &c, p).unwrap(), &stream_bars(MinusDi::new(p).unwrap(), &bars));
        assert_same("CCI", &ta::cci(&h, &l, &c, p2).unwrap(), &stream_bars(Cci::new(p2).unwrap(), &bars));
        assert_same("WILLR", &ta::willr(&h, &l, &c, p2).unwrap(), &stream_bars(Willr::new(p2).unwrap(), &bars));
        assert_same("MFI", &ta::mfi(&h, &l, &c, &v, p2).unwrap(), &stream_bars(Mfi::new(p2).unwrap(), &bars));
        assert_same("OBV", &ta::obv(&c, &v).unwrap(), &stream_bars(Obv::new(), &bars));
        assert_same(
            "VWAP_ROLLING",
            &ta::vwap_rolling(&h, &l, &c, &v, p).unwrap(),
            &stream_bars(VwapRolling::new(p).unwrap(), &bars),
        );
        let session: Vec<i64> = (0..bars.len() as i64).map(|i| i / 17).collect();
        let mut s = VwapSession::new();
        let sv: Vec<f64> = bars.iter().zip(&session).map(|(&b, &k)| s.update((b, k))).collect();
        assert_same("VWAP_SESSION", &ta::vwap_session(&h, &l, &c, &v, &session).unwrap(), &sv);

        let (k, d) = ta::stoch(&h, &l, &c, p, 3, ma, 2, MaType::Sma).unwrap();
        let mut s = Stoch::new(p, 3, ma, 2, MaType::Sma).unwrap();
        let ss: Vec<_> = bars.iter().map(|&b| s.update(b)).collect();
        assert_same("STOCH.k", &k, &ss.iter().map(|o| o.slowk).collect::<Vec<_>>());
        assert_same("STOCH.d", &d, &ss.iter().map(|o| o.slowd).collect::<Vec<_>>());

        let (down, up) = ta::aroon(&h, &l, p2).unwrap();
        let mut s = Aroon::new(p2).unwrap();
        let sa: Vec<_> = bars.iter().map(|&b| s.update(b)).collect();
        assert_same("AROON.down", &down, &sa.iter().map(|o| o.down).collect::<Vec<_>>());
        assert_same("AROON.up", &up, &sa.iter().map(|o| o.up).collect::<Vec<_>>());
    }

    #[test]
    fn reset_stream_replays_identically(bars in bars(), p in 2usize..15) {
        let c: Vec<f64> = bars.iter().map(|b| b.close).collect();
        let mut s = Kama::new(p).unwrap();
        let first: Vec<f64> = c.iter().map(|&x| s.update(x)).collect();
        s.reset();
        let second: Vec<f64> = c.iter().map(|&x| s.update(x)).collect();
        assert_same("KAMA after reset", &first, &second);
        let mut s = Adx::new(p).unwrap();
        let first: Vec<f64> = bars.iter().map(|&b| s.update(b)).collect();
        s.reset();
        let second: Vec<f64> = bars.iter().map(|&b| s.update(b)).collect();
        assert_same("ADX after reset", &first, &second);
    }

    #[test]
    fn f32_input_equals_its_f64_widening(x in prop::collection::vec(-1e4f32..1e4, 0..200), p in 2usize..20) {
        let wide: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        assert_same("SMA f32", &ta::sma(&x, p).unwrap(), &ta::sma(&wide, p).unwrap());
        assert_same("RSI f32", &ta::rsi(&x, p).unwrap(), &ta::rsi(&wide, p).unwrap());
        assert_same("WILLR f32", &ta::willr(&x, &x, &x, p).unwrap(), &ta::willr(&wide, &wide, &wide, p).unwrap());
    }

    #[test]
    fn matrix_kernels_equal_per_column_kernels(
        data in prop::collection::vec(90.0f64..110.0, 0..400),
        n_rows in 1usize..50,
        p in 2usize..10,
    ) {
        let len = data.len() / n_rows * n_rows;
        let m = &data[..len];
        let mut out = vec![0.0; len];
        matrix::sma_2d(m, n_rows, p, &mut out).unwrap();
        for (col, got) in m.chunks(n_rows).zip(out.chunks(n_rows)) {
            assert_same("sma_2d", &ta::sma(col, p).unwrap(), got);
        }
        let (mut u, mut mid, mut lo) = (vec![0.0; len], vec![0.0; len], vec![0.0; len]);
        matrix::bbands_2d(m, n_rows, p, 2.0, 2.0, MaType::Ema, &mut u, &mut mid, &mut lo).unwrap();
        for (j, col) in m.chunks(n_rows).enumerate() {
            let (eu, em, el) = ta::bbands(col, p, 2.0, 2.0, MaType::Ema).unwrap();
            let r = j * n_rows..(j + 1) * n_rows;
            assert_same("bbands_2d.upper", &eu, &u[r.clone()]);
            assert_same("bbands_2d.middle", &em, &mid[r.clone()]);
            assert_same("bbands_2d.lower", &el, &lo[r]);
        }
        let mut out = vec![0.0; len];
        matrix::willr_2d(m, m, m, n_rows, p, &mut out).unwrap();
        for (col, got) in m.chunks(n_rows).zip(out.chunks(n_rows)) {
            assert_same("willr_2d", &ta::willr(col, col, col, p).unwrap(), got);
        }
    }

    #[test]
    fn arbitrary_input_never_panics(
        x in prop::collection::vec(prop_oneof![any::<f64>(), Just(f64::NAN), Just(0.0)], 0..60),
        p in 0usize..70,
    ) {
        let _ = ta::sma(&x, p);
        let _ = ta::kama(&x, p);
        let _ = ta::stddev(&x, p, 2.0);
        let _ = ta::bbands(&x, p, 2.0, 2.0, MaType::Kama);
        let _ = ta::macd(&x, p, 26, p);
        let _ = ta::stochrsi(&x, p, p, p, MaType::Tema);
        let _ = ta::adx(&x, &x, &x, p);
        let _ = ta::willr(&x, &x, &x, p);
        let _ = ta::mfi(&x, &x, &x, &x, p);
        let _ = ta::cci(&x, &x, &x, p);
        let _ = ta::aroon(&x, &x, p);
        let _ = ta::stoch(&x, &x, &x, p, p, MaType::Wma, p, MaType::Dema);
        let _ = ta::obv(&x, &x);
        let _ = ta::vwap_rolling(&x, &x, &x, &x, p);
    }
}

#[test]
fn bad_parameters_and_lengths_are_errors() {
    let x = [1.0, 2.0, 3.0];
    assert!(matches!(ta::sma(&x, 0), Err(TaError::BadPeriod { .. })));
    assert!(matches!(ta::rsi(&x, 1), Err(TaError::BadPeriod { .. })));
    assert!(matches!(
        ta::ema(&x, 100_001),
        Err(TaError::BadPeriod { .. })
    ));
    assert!(matches!(
        ta::atr(&x, &x[..2], &x, 3),
        Err(TaError::LengthMismatch { name: "low", .. })
    ));
    let mut short = [0.0; 2];
    assert!(matches!(
        ta::sma_into(&x, 2, &mut short),
        Err(TaError::LengthMismatch { name: "out", .. })
    ));
    assert!(matches!(
        MaType::from_code(9),
        Err(TaError::UnsupportedMaType(9))
    ));
    assert_eq!(MaType::from_code(7), Ok(MaType::Mama));
    let mut out = [0.0; 3];
    assert!(matches!(
        matrix::sma_2d(&x, 2, 2, &mut out),
        Err(TaError::BadShape { .. })
    ));
}

#[test]
fn output_keeps_input_length_with_nan_warm_up() {
    let x: Vec<f64> = (0..10).map(|i| i as f64).collect();
    let out = ta::sma(&x, 4).unwrap();
    assert_eq!(out.len(), 10);
    assert!(out[..3].iter().all(|v| v.is_nan()));
    assert_eq!(out[3], 1.5);
    assert!(ta::sma(&x[..3], 4).unwrap().iter().all(|v| v.is_nan()));
    assert!(ta::sma::<f64>(&[], 4).unwrap().is_empty());
}

#[test]
fn session_vwap_resets_at_session_change() {
    // Typical prices 10, 20 | 30: the third bar starts a new session.
    let h = [11.0, 21.0, 31.0];
    let l = [9.0, 19.0, 29.0];
    let c = [10.0, 20.0, 30.0];
    let v = [1.0, 3.0, 2.0];
    let out = ta::vwap_session(&h, &l, &c, &v, &[0, 0, 1]).unwrap();
    assert_eq!(out, vec![10.0, 17.5, 30.0]);
    assert_eq!(
        ta::session_key(86_400_000_000_000 + 5, 86_400_000_000_000, 0),
        1
    );
}
