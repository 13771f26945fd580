//! 2-D kernels: one indicator over many instruments at once, columns split across cores
//! with rayon.
//!
//! Layout: **column-major**. A matrix of `n_rows` time steps by `n_cols` instruments is one
//! slice of `n_rows * n_cols` values where column `j` (one instrument's series, oldest
//! first) is `data[j * n_rows..(j + 1) * n_rows]`. That is numpy's Fortran order for a
//! `(n_rows, n_cols)` array, or C order for `(n_cols, n_rows)`. Columns are independent, so
//! each is exactly the 1-D kernel's result on that column.

use rayon::prelude::*;

use super::{Real, TaError};

fn check_matrix(
    name: &'static str,
    len: usize,
    n_rows: usize,
    total: usize,
) -> Result<(), TaError> {
    if len != total {
        return Err(TaError::LengthMismatch {
            name,
            len,
            expected: total,
        });
    }
    if n_rows == 0 && len != 0 || n_rows != 0 && len % n_rows != 0 {
        return Err(TaError::BadShape { name, len, n_rows });
    }
    Ok(())
}

/// One column's input slices and output slices.
type Column<'i, 'o, T> = (Vec<&'i [T]>, Vec<&'o mut [f64]>);

/// Runs `kernel` on every column of the column-major `inputs`, writing the matching columns
/// of `outputs`, in parallel. All matrices must have the same length, a multiple of
/// `n_rows`. The kernel receives one column slice per input and per output.
pub fn par_columns<T, F>(
    inputs: &[&[T]],
    outputs: &mut [&mut [f64]],
    n_rows: usize,
    kernel: F,
) -> Result<(), TaError>
where
    T: Real,
    F: Fn(&[&[T]], &mut [&mut [f64]]) -> Result<(), TaError> + Sync,
{
    let total = inputs
        .first()
        .map(|s| s.len())
        .or_else(|| outputs.first().map(|s| s.len()))
        .unwrap_or(0);
    for s in inputs {
        check_matrix("input", s.len(), n_rows, total)?;
    }
    for s in outputs.iter() {
        check_matrix("output", s.len(), n_rows, total)?;
    }
    if total == 0 {
        return Ok(());
    }
    let n_cols = total / n_rows;
    // Per-column views: allocated once per call, not per element.
    let mut cols: Vec<Column<'_, '_, T>> = (0..n_cols)
        .map(|j| {
            (
                inputs
                    .iter()
                    .map(|s| &s[j * n_rows..(j + 1) * n_rows])
                    .collect(),
                Vec::with_capacity(outputs.len()),
            )
        })
        .collect();
    for out in outputs.iter_mut() {
        for (col, chunk) in cols.iter_mut().zip(out.chunks_mut(n_rows)) {
            col.1.push(chunk);
        }
    }
    cols.into_par_iter()
        .try_for_each(|(ins, mut outs)| kernel(&ins, &mut outs))
}

macro_rules! real_2d {
    ($(#[$m:meta])* $name:ident, $kernel:path) => {
        $(#[$m])*
        pub fn $name<T: Real>(
            input: &[T],
            n_rows: usize,
            period: usize,
            out: &mut [f64],
        ) -> Result<(), TaError> {
            par_columns(&[input], &mut [out], n_rows, |i, o| $kernel(i[0], period, &mut *o[0]))
        }
    };
}

real_2d!(/// [`super::sma_into`] per column.
    sma_2d, super::sma_into);
real_2d!(/// [`super::ema_into`] per column.
    ema_2d, super::ema_into);
real_2d!(/// [`super::wma_into`] per column.
    wma_2d, super::wma_into);
real_2d!(/// [`super::dema_into`] per column.
    dema_2d, super::dema_into);
real_2d!(/// [`super::tema_into`] per column.
    tema_2d, super::tema_into);
real_2d!(/// [`super::kama_into`] per column.
    kama_2d, super::kama_into);
real_2d!(/// [`super::rsi_into`] per column.
    rsi_2d, super::rsi_into);
real_2d!(/// [`super::mom_into`] per column.
    mom_2d, super::mom_into);
real_2d!(/// [`super::roc_into`] per column.
    roc_2d, super::roc_into);

/// [`super::stddev_into`] per column.
pub fn stddev_2d<T: Real>(
    input: &[T],
    n_rows: usize,
    period: usize,
    nbdev: f64,
    out: &mut [f64],
) -> Result<(), TaError> {
    par_columns(&[input], &mut [out], n_rows, |i, o| {
        super::stddev_into(i[0], period, nbdev, &mut *o[0])
    })
}

macro_rules! hlc_2d {
    ($(#[$m:meta])* $name:ident, $kernel:path) => {
        $(#[$m])*
        pub fn $name<T: Real>(
            high: &[T],
            low: &[T],
            close: &[T],
            n_rows: usize,
            period: usize,
            out: &mut [f64],
        ) -> Result<(), TaError> {
            par_columns(&[high, low, close], &mut [out], n_rows, |i, o| {
                $kernel(i[0], i[1], i[2], period, &mut *o[0])
            })
        }
    };
}

hlc_2d!(/// [`super::atr_into`] per column.
    atr_2d, super::atr_into);
hlc_2d!(/// [`super::natr_into`] per column.
    natr_2d, super::natr_into);
hlc_2d!(/// [`super::adx_into`] per column.
    adx_2d, super::adx_into);
hlc_2d!(/// [`super::plus_di_into`] per column.
    plus_di_2d, super::plus_di_into);
hlc_2d!(/// [`super::minus_di_into`] per column.
    minus_di_2d, super::minus_di_into);
hlc_2d!(/// [`super::cci_into`] per column.
    cci_2d, super::cci_into);
hlc_2d!(/// [`super::willr_into`] per column.
    willr_2d, super::willr_into);

/// [`super::bbands_into`] per column.
#[allow(clippy::too_many_arguments)]
pub fn bbands_2d<T: Real>(
    input: &[T],
    n_rows: usize,
    period: usize,
    nbdevup: f64,
    nbdevdn: f64,
    matype: super::MaType,
    upper: &mut [f64],
    middle: &mut [f64],
    lower: &mut [f64],
) -> Result<(), TaError> {
    par_columns(&[input], &mut [upper, middle, lower], n_rows, |i, o| {
        let [u, m, l] = o else {
            unreachable!("three outputs are passed")
        };
        super::bbands_into(
            i[0],
            period,
            nbdevup,
            nbdevdn,
            matype,
            super::BbandsOut {
                upper: u,
                middle: m,
                lower: l,
            },
        )
    })
}

/// [`super::macd_into`] per column.
#[allow(clippy::too_many_arguments)]
pub fn macd_2d<T: Real>(
    input: &[T],
    n_rows: usize,
    fast: usize,
    slow: usize,
    signal: usize,
    out_macd: &mut [f64],
    out_signal: &mut [f64],
    out_hist: &mut [f64],
) -> Result<(), TaError> {
    par_columns(
        &[input],
        &mut [out_macd, out_signal, out_hist],
        n_rows,
        |i, o| {
            let [a, b, c] = o else {
                unreachable!("three outputs are passed")
            };
            super::macd_into(i[0], fast, slow, signal, a, b, c)
        },
    )
}

/// [`super::stoch_into`] per column.
#[allow(clippy::too_many_arguments)]
pub fn stoch_2d<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    n_rows: usize,
    fastk: usize,
    slowk: usize,
    slowk_ma: super::MaType,
    slowd: usize,
    slowd_ma: super::MaType,
    out_slowk: &mut [f64],
    out_slowd: &mut [f64],
) -> Result<(), TaError> {
    par_columns(
        &[high, low, close],
        &mut [out_slowk, out_slowd],
        n_rows,
        |i, o| {
            let [k, d] = o else {
                unreachable!("two outputs are passed")
            };
            super::stoch_into(
                i[0], i[1], i[2], fastk, slowk, slowk_ma, slowd, slowd_ma, k, d,
            )
        },
    )
}
