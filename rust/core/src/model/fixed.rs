//! Fixed-point prices and quantities: instruments with their tick and lot sizes, the table
//! that gives each instrument its `u32` index, and the parser that turns an exchange's
//! decimal string straight into an integer count of ticks or lots.
//!
//! No float ever sits between the wire and the integer: `"61234.56000000"` with a tick of
//! `0.01` becomes `6123456` by digit arithmetic, so two strings that denote the same price
//! always give the same key, and a value off the instrument's grid is an error rather than
//! a silently rounded number.

use std::collections::HashMap;
use std::fmt;

use thiserror::Error;

/// Largest number of decimal places a [`Step`] may have; 10^18 still fits in a u64.
pub const MAX_SCALE: u8 = 18;

/// Why a decimal string could not become a fixed-point integer.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum FixedError {
    #[error("empty decimal string")]
    Empty,
    #[error("malformed decimal: unexpected byte {byte:#04x} at position {pos} (expected -?digits[.digits])")]
    Malformed { pos: usize, byte: u8 },
    #[error("malformed decimal: no digits {where_}")]
    MissingDigits { where_: &'static str },
    #[error("value is off the grid of step {step}")]
    OffGrid { step: Step },
    #[error("value does not fit in a 64-bit count of steps of {step}")]
    Overflow { step: Step },
    #[error("negative value where only zero or more is allowed")]
    Negative,
    #[error("step must be a positive decimal with at most {MAX_SCALE} decimal places")]
    InvalidStep,
}

/// A positive decimal increment (a tick size or a lot size): `mantissa * 10^-scale`.
/// `0.01` is `{mantissa: 1, scale: 2}`, `0.5` is `{5, 1}`, `10` is `{10, 0}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Step {
    mantissa: u64,
    scale: u8,
}

const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

impl Step {
    /// A step of `mantissa * 10^-scale`. Trailing zeros of the mantissa are folded into the
    /// scale so that equal steps compare equal (`10 * 10^-3` is `1 * 10^-2`).
    pub fn new(mantissa: u64, scale: u8) -> Result<Step, FixedError> {
        if mantissa == 0 || scale > MAX_SCALE {
            return Err(FixedError::InvalidStep);
        }
        let (mut m, mut s) = (mantissa, scale);
        while s > 0 && m % 10 == 0 {
            m /= 10;
            s -= 1;
        }
        Ok(Step {
            mantissa: m,
            scale: s,
        })
    }

    /// Parses a step written as a decimal, such as Binance's `tickSize` `"0.01000000"`.
    pub fn parse(text: &str) -> Result<Step, FixedError> {
        let digits = parse_digits(text.as_bytes())?;
        if digits.negative {
            return Err(FixedError::InvalidStep);
        }
        let mut frac = digits.frac;
        // Trailing zeros carry no value; dropping them keeps the scale minimal.
        while let [rest @ .., b'0'] = frac {
            frac = rest;
        }
        if frac.len() > MAX_SCALE as usize {
            return Err(FixedError::InvalidStep);
        }
        let mut m: u64 = 0;
        for &b in digits.int.iter().chain(frac.iter()) {
            m = m
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(b - b'0')))
                .ok_or(FixedError::InvalidStep)?;
        }
        Step::new(m, frac.len() as u8)
    }

    pub fn mantissa(self) -> u64 {
        self.mantissa
    }

    /// Number of decimal places of the step: the precision values are printed with.
    pub fn scale(self) -> u8 {
        self.scale
    }

    /// Parses a decimal string into a signed count of steps.
    pub fn to_steps(self, text: &str) -> Result<i64, FixedError> {
        self.parse_bytes(text.as_bytes(), true)
    }

    /// [`to_steps`](Self::to_steps) of decimal bytes as they came off the wire (anything
    /// but `-?digits[.digits]` is an error, so the bytes need not be checked first).
    pub fn to_steps_bytes(self, text: &[u8]) -> Result<i64, FixedError> {
        self.parse_bytes(text, true)
    }

    /// [`to_steps_unsigned`](Self::to_steps_unsigned) of decimal bytes as they came off
    /// the wire.
    pub fn to_steps_unsigned_bytes(self, text: &[u8]) -> Result<i64, FixedError> {
        self.parse_bytes(text, false)
    }

    /// Parses a decimal string into a count of steps that must not be negative
    /// (quantities). `"-0"` is rejected too: a sign on a quantity means a broken producer.
    pub fn to_steps_unsigned(self, text: &str) -> Result<i64, FixedError> {
        self.parse_bytes(text.as_bytes(), false)
    }

    #[inline]
    fn parse_bytes(self, text: &[u8], allow_negative: bool) -> Result<i64, FixedError> {
        match self.parse_plain(text, allow_negative) {
            Some(steps) => Ok(steps),
            None => self.parse_checked(text, allow_negative),
        }
    }

    /// One pass over the common case: `-?digits[.digits]` on the grid, at most 18 digits
    /// once on the step's scale. `None` for anything else, which `parse_checked` then accepts or
    /// explains; both agree wherever this one answers (see the
    /// `plain_parse_agrees_with_the_checked_one` property). Fraction digits go eight at a
    /// time where there are eight (exchanges pad to 8 places); digits past the step's
    /// scale are only checked to be zeros.
    #[inline(always)]
    fn parse_plain(self, text: &[u8], allow_negative: bool) -> Option<i64> {
        let (negative, body) = match text.split_first()? {
            (b'-', rest) if allow_negative => (true, rest),
            _ => (false, text),
        };
        let scale = usize::from(self.scale);
        let mut value = 0u64;
        let mut int_len = 0;
        for &b in body {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            // Wraps harmlessly past 19 digits: such a value is refused just below.
            value = value.wrapping_mul(10).wrapping_add(u64::from(d));
            int_len += 1;
        }
        // On the step's scale the value has int_len + scale digits: at most 18 keeps it
        // below 10^18, so nothing below overflows.
        if int_len == 0 || int_len + scale > 18 {
            return None;
        }
        let frac = match &body[int_len..] {
            [] => &[][..],
            [b'.', frac @ ..] if !frac.is_empty() => frac,
            _ => return None,
        };
        // Digits past the step's scale must be zeros; only the rest carries value.
        let (kept, mut extra) = frac.split_at(frac.len().min(scale));
        while let Some((chunk, tail)) = extra.split_first_chunk::<8>() {
            if u64::from_le_bytes(*chunk) != u64::from_le_bytes(*b"00000000") {
                return None;
            }
            extra = tail;
        }
        if !extra.iter().all(|&b| b == b'0') {
            return None;
        }
        let mut rest = kept;
        while let Some((chunk, tail)) = rest.split_first_chunk::<8>() {
            value = value * 100_000_000 + eight_digits(*chunk)?;
            rest = tail;
        }
        for &b in rest {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            value = value * 10 + u64::from(d);
        }
        let units = value * POW10[scale - kept.len()];
        let steps = if self.mantissa == 1 {
            units
        } else if units % self.mantissa == 0 {
            units / self.mantissa
        } else {
            return None;
        };
        let steps = steps as i64;
        Some(if negative { -steps } else { steps })
    }

    fn parse_checked(self, text: &[u8], allow_negative: bool) -> Result<i64, FixedError> {
        let d = parse_digits(text)?;
        if d.negative && !allow_negative {
            return Err(FixedError::Negative);
        }
        let overflow = FixedError::Overflow { step: self };
        let scale = self.scale as usize;
        // Fraction digits past the step's scale must all be zero, or the value is between
        // two grid points.
        let (kept, extra) = if d.frac.len() > scale {
            d.frac.split_at(scale)
        } else {
            (d.frac, &[][..])
        };
        if extra.iter().any(|&b| b != b'0') {
            return Err(FixedError::OffGrid { step: self });
        }
        let mut units: u64 = 0;
        for &b in d.int.iter().chain(kept.iter()) {
            units = units
                .checked_mul(10)
                .and_then(|u| u.checked_add(u64::from(b - b'0')))
                .ok_or(overflow)?;
        }
        // Bring the value to exactly `scale` decimal places.
        units = units
            .checked_mul(POW10[scale - kept.len()])
            .ok_or(overflow)?;
        if units % self.mantissa != 0 {
            return Err(FixedError::OffGrid { step: self });
        }
        let steps = units / self.mantissa;
        if d.negative {
            // i64::MIN has no positive counterpart; keep the range symmetric instead.
            i64::try_from(steps).map(|s| -s).map_err(|_| overflow)
        } else {
            i64::try_from(steps).map_err(|_| overflow)
        }
    }

    /// Writes `steps * step` as a decimal with exactly `scale` decimal places.
    pub fn write_steps(self, steps: i64, out: &mut impl fmt::Write) -> fmt::Result {
        let units = i128::from(steps) * i128::from(self.mantissa);
        let sign = if units < 0 { "-" } else { "" };
        let abs = units.unsigned_abs();
        let scale = self.scale as usize;
        if scale == 0 {
            return write!(out, "{sign}{abs}");
        }
        let div = u128::from(POW10[scale]);
        write!(out, "{sign}{}.{:0scale$}", abs / div, abs % div)
    }

    /// Writes `steps * step` with exactly `frac_digits` decimal places (no `.` when 0), which
    /// is how a venue that keeps its own text form (OKX trims trailing zeros, Kraken pads to
    /// a fixed width) wrote the value. Fails when the value needs more places than that.
    pub fn write_steps_with_digits(
        self,
        steps: i64,
        frac_digits: u8,
        out: &mut impl fmt::Write,
    ) -> fmt::Result {
        let units = i128::from(steps) * i128::from(self.mantissa);
        let sign = if units < 0 { "-" } else { "" };
        let mut abs = units.unsigned_abs();
        let scale = usize::from(self.scale);
        let digits = usize::from(frac_digits);
        if digits < scale {
            // Dropping places is exact only when they are all zero.
            let cut = u128::from(POW10[scale - digits]);
            if abs % cut != 0 {
                return Err(fmt::Error);
            }
            abs /= cut;
        }
        let kept = digits.min(scale);
        let div = u128::from(POW10[kept]);
        write!(out, "{sign}{}", abs / div)?;
        if digits > 0 {
            out.write_char('.')?;
            if kept > 0 {
                write!(out, "{:0kept$}", abs % div)?;
            }
            for _ in kept..digits {
                out.write_char('0')?;
            }
        }
        Ok(())
    }

    /// `steps * step` as a decimal string with exactly `scale` decimal places.
    pub fn format_steps(self, steps: i64) -> String {
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = self.write_steps(steps, &mut s);
        s
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_steps(1, f)
    }
}

/// Eight ASCII digits (most significant first) as their value, or `None` if any byte is
/// not a digit: the SWAR check and reduction of simdjson's `parse_eight_digits_unrolled`.
#[inline]
fn eight_digits(chunk: [u8; 8]) -> Option<u64> {
    let v = u64::from_le_bytes(chunk);
    let high = v & 0xF0F0_F0F0_F0F0_F0F0;
    let carry = (v.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4;
    if high | carry != 0x3333_3333_3333_3333 {
        return None;
    }
    let v = ((v & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(2561)) >> 8;
    let v = ((v & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601)) >> 16;
    Some(((v & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001)) >> 32)
}

/// The syntactic pieces of `-?[0-9]+(\.[0-9]+)?`.
struct Digits<'a> {
    negative: bool,
    int: &'a [u8],
    frac: &'a [u8],
}

fn parse_digits(text: &[u8]) -> Result<Digits<'_>, FixedError> {
    if text.is_empty() {
        return Err(FixedError::Empty);
    }
    let (negative, body, offset) = match text[0] {
        b'-' => (true, &text[1..], 1),
        _ => (false, text, 0),
    };
    let int_len = body.iter().take_while(|b| b.is_ascii_digit()).count();
    let (int, rest) = body.split_at(int_len);
    if int.is_empty() {
        return match rest.first() {
            Some(&b) if b != b'.' => Err(FixedError::Malformed {
                pos: offset,
                byte: b,
            }),
            _ => Err(FixedError::MissingDigits {
                where_: "before the decimal point",
            }),
        };
    }
    let frac = match rest.split_first() {
        None => &[][..],
        Some((b'.', frac)) => {
            if frac.is_empty() {
                return Err(FixedError::MissingDigits {
                    where_: "after the decimal point",
                });
            }
            if let Some(i) = frac.iter().position(|b| !b.is_ascii_digit()) {
                return Err(FixedError::Malformed {
                    pos: offset + int_len + 1 + i,
                    byte: frac[i],
                });
            }
            frac
        }
        Some((&b, _)) => {
            return Err(FixedError::Malformed {
                pos: offset + int_len,
                byte: b,
            })
        }
    };
    Ok(Digits {
        negative,
        int,
        frac,
    })
}

/// A tradable instrument on one venue, with the grids its prices and quantities live on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instrument {
    /// The venue's symbol, upper case (`BTCUSDT`).
    pub symbol: String,
    /// Index into the venue table.
    pub venue: u8,
    /// Price increment: one tick.
    pub tick: Step,
    /// Quantity increment: one lot.
    pub lot: Step,
}

impl Instrument {
    /// An instrument from its symbol and the venue's tick and lot sizes as decimal strings
    /// (`"0.01"`, `"0.00001"`).
    pub fn new(symbol: &str, venue: u8, tick: &str, lot: &str) -> Result<Instrument, FixedError> {
        Ok(Instrument {
            symbol: symbol.to_ascii_uppercase(),
            venue,
            tick: Step::parse(tick)?,
            lot: Step::parse(lot)?,
        })
    }

    /// Decimal places of a price.
    pub fn price_precision(&self) -> u8 {
        self.tick.scale()
    }

    /// Decimal places of a quantity.
    pub fn qty_precision(&self) -> u8 {
        self.lot.scale()
    }

    /// A price string as a signed number of ticks (some instruments trade below zero).
    pub fn price_ticks(&self, text: &str) -> Result<i64, FixedError> {
        self.tick.to_steps(text)
    }

    /// A quantity string as a number of lots; negative quantities are rejected.
    pub fn qty_lots(&self, text: &str) -> Result<i64, FixedError> {
        self.lot.to_steps_unsigned(text)
    }

    pub fn format_price(&self, price_ticks: i64) -> String {
        self.tick.format_steps(price_ticks)
    }

    pub fn format_qty(&self, qty_lots: i64) -> String {
        self.lot.format_steps(qty_lots)
    }
}

/// Why an instrument could not be added to an [`InstrumentTable`].
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum InstrumentError {
    #[error("instrument {symbol} is already listed on venue {venue}")]
    Duplicate { symbol: String, venue: u8 },
    #[error("instrument table is full")]
    Full,
}

/// Every known instrument, each at a stable `u32` index (the `instrument` field of an
/// [`Event`](crate::model::Event)), found by venue and symbol.
#[derive(Debug, Clone, Default)]
pub struct InstrumentTable {
    instruments: Vec<Instrument>,
    /// One symbol map per venue: lookups by `&str` need no allocation.
    by_venue: Vec<(u8, HashMap<Box<str>, u32>)>,
}

/// Symbols longer than this are looked up by allocating an upper-case copy.
const SYMBOL_STACK_LEN: usize = 32;

impl InstrumentTable {
    pub fn new() -> InstrumentTable {
        InstrumentTable::default()
    }

    /// Adds an instrument and returns its index.
    pub fn insert(&mut self, instrument: Instrument) -> Result<u32, InstrumentError> {
        if self
            .index_of(instrument.venue, &instrument.symbol)
            .is_some()
        {
            return Err(InstrumentError::Duplicate {
                symbol: instrument.symbol,
                venue: instrument.venue,
            });
        }
        let index = u32::try_from(self.instruments.len()).map_err(|_| InstrumentError::Full)?;
        let venue = instrument.venue;
        let key: Box<str> = instrument.symbol.clone().into_boxed_str();
        self.instruments.push(instrument);
        match self.by_venue.iter_mut().find(|(v, _)| *v == venue) {
            Some((_, map)) => {
                map.insert(key, index);
            }
            None => self.by_venue.push((venue, HashMap::from([(key, index)]))),
        }
        Ok(index)
    }

    /// The index of `symbol` on `venue`, matched case-insensitively (Binance stream names
    /// are lower case, payloads upper case).
    pub fn index_of(&self, venue: u8, symbol: &str) -> Option<u32> {
        let map = &self.by_venue.iter().find(|(v, _)| *v == venue)?.1;
        if let Some(&i) = map.get(symbol) {
            return Some(i);
        }
        if !symbol.bytes().any(|b| b.is_ascii_lowercase()) {
            return None;
        }
        if symbol.len() <= SYMBOL_STACK_LEN {
            let mut buf = [0u8; SYMBOL_STACK_LEN];
            let upper = &mut buf[..symbol.len()];
            upper.copy_from_slice(symbol.as_bytes());
            upper.make_ascii_uppercase();
            // Upper-casing ASCII bytes of a valid str keeps it valid UTF-8.
            let upper = std::str::from_utf8(upper).ok()?;
            map.get(upper).copied()
        } else {
            map.get(symbol.to_ascii_uppercase().as_str()).copied()
        }
    }

    pub fn get(&self, index: u32) -> Option<&Instrument> {
        self.instruments.get(index as usize)
    }

    pub fn len(&self) -> usize {
        self.instruments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.instruments.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, &Instrument)> {
        self.instruments
            .iter()
            .enumerate()
            .map(|(i, x)| (i as u32, x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn step(s: &str) -> Step {
        Step::parse(s).unwrap()
    }

    #[test]
    fn binance_price_becomes_ticks_without_float() {
        assert_eq!(step("0.01").to_steps("61234.56000000"), Ok(6123456));
        assert_eq!(step("0.01000000").to_steps("61234.56"), Ok(6123456));
        assert_eq!(step("0.10").to_steps("61800.20"), Ok(618002));
        assert_eq!(step("0.00001").to_steps_unsigned("1.54698000"), Ok(154698));
        assert_eq!(step("0.001").to_steps_unsigned("0.000"), Ok(0));
        assert_eq!(step("0.5").to_steps("-2.5"), Ok(-5));
        assert_eq!(step("10").to_steps("120"), Ok(12));
        assert_eq!(step("1").to_steps("007"), Ok(7));
    }

    #[test]
    fn step_is_normalised_and_printed_at_its_precision() {
        assert_eq!(step("0.01000000"), step("0.01"));
        assert_eq!(Step::new(10, 3), Step::new(1, 2));
        assert_eq!(step("0.01").to_string(), "0.01");
        assert_eq!(step("0.5").to_string(), "0.5");
        assert_eq!(step("10").to_string(), "10");
        assert_eq!(Step::parse("0"), Err(FixedError::InvalidStep));
        assert_eq!(Step::parse("-1"), Err(FixedError::InvalidStep));
        assert_eq!(
            Step::parse("0.0000000000000000001"),
            Err(FixedError::InvalidStep)
        );
    }

    #[test]
    fn malformed_strings_are_rejected_with_the_reason() {
        let t = step("0.01");
        assert_eq!(t.to_steps(""), Err(FixedError::Empty));
        assert_eq!(
            t.to_steps("-"),
            Err(FixedError::MissingDigits {
                where_: "before the decimal point"
            })
        );
        assert_eq!(
            t.to_steps(".5"),
            Err(FixedError::MissingDigits {
                where_: "before the decimal point"
            })
        );
        assert_eq!(
            t.to_steps("5."),
            Err(FixedError::MissingDigits {
                where_: "after the decimal point"
            })
        );
        assert_eq!(
            t.to_steps("1e5"),
            Err(FixedError::Malformed { pos: 1, byte: b'e' })
        );
        assert_eq!(
            t.to_steps("1.2.3"),
            Err(FixedError::Malformed { pos: 3, byte: b'.' })
        );
        assert_eq!(
            t.to_steps("+1"),
            Err(FixedError::Malformed { pos: 0, byte: b'+' })
        );
        assert_eq!(
            t.to_steps(" 1"),
            Err(FixedError::Malformed { pos: 0, byte: b' ' })
        );
        assert_eq!(
            t.to_steps("--1"),
            Err(FixedError::Malformed { pos: 1, byte: b'-' })
        );
        assert_eq!(
            t.to_steps("NaN"),
            Err(FixedError::Malformed { pos: 0, byte: b'N' })
        );
    }

    #[test]
    fn off_grid_overflow_and_negative_are_errors() {
        let t = step("0.01");
        assert_eq!(t.to_steps("1.005"), Err(FixedError::OffGrid { step: t }));
        assert_eq!(
            t.to_steps("1.00000001"),
            Err(FixedError::OffGrid { step: t })
        );
        let half = step("0.5");
        assert_eq!(
            half.to_steps("1.2"),
            Err(FixedError::OffGrid { step: half })
        );
        assert_eq!(t.to_steps("92233720368547758.07"), Ok(i64::MAX));
        assert_eq!(
            t.to_steps("92233720368547758.08"),
            Err(FixedError::Overflow { step: t })
        );
        assert_eq!(t.to_steps("-92233720368547758.07"), Ok(-i64::MAX));
        assert_eq!(
            t.to_steps("99999999999999999999999"),
            Err(FixedError::Overflow { step: t })
        );
        assert_eq!(t.to_steps_unsigned("-1.00"), Err(FixedError::Negative));
        assert_eq!(t.to_steps_unsigned("-0"), Err(FixedError::Negative));
        // Off-grid is reported even for long zero-padded tails that would overflow.
        assert_eq!(t.to_steps("1.0000000000000000000000000"), Ok(100));
    }

    #[test]
    fn instrument_table_finds_symbols_case_insensitively_per_venue() {
        let mut table = InstrumentTable::new();
        let spot = table
            .insert(Instrument::new("BTCUSDT", 1, "0.01", "0.00001").unwrap())
            .unwrap();
        let fut = table
            .insert(Instrument::new("btcusdt", 2, "0.10", "0.001").unwrap())
            .unwrap();
        assert_ne!(spot, fut);
        assert_eq!(table.index_of(1, "BTCUSDT"), Some(spot));
        assert_eq!(table.index_of(1, "btcusdt"), Some(spot));
        assert_eq!(table.index_of(2, "BtcUsdt"), Some(fut));
        assert_eq!(table.index_of(1, "ETHUSDT"), None);
        assert_eq!(table.index_of(3, "BTCUSDT"), None);
        assert_eq!(table.get(fut).map(|i| i.price_precision()), Some(1));
        assert!(matches!(
            table.insert(Instrument::new("BTCUSDT", 1, "0.01", "0.00001").unwrap()),
            Err(InstrumentError::Duplicate { .. })
        ));
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn values_are_rewritten_with_the_wire_number_of_places() {
        let fmt = |st: &str, n: i64, d: u8| {
            let mut s = String::new();
            step(st).write_steps_with_digits(n, d, &mut s).map(|_| s)
        };
        assert_eq!(fmt("0.1", 303160, 0).as_deref(), Ok("30316"));
        assert_eq!(fmt("0.1", 303161, 1).as_deref(), Ok("30316.1"));
        assert_eq!(fmt("0.00000001", 40000000, 1).as_deref(), Ok("0.4"));
        assert_eq!(fmt("0.01", 35415, 8).as_deref(), Ok("354.15000000"));
        assert_eq!(fmt("1", 7, 3).as_deref(), Ok("7.000"));
        assert_eq!(fmt("0.5", -5, 1).as_deref(), Ok("-2.5"));
        assert_eq!(fmt("0.1", 303161, 0), Err(fmt::Error));
    }

    fn any_step() -> impl Strategy<Value = Step> {
        (1u64..1000, 0u8..=10).prop_map(|(m, s)| Step::new(m, s).unwrap())
    }

    proptest! {
        #[test]
        fn formatting_then_parsing_returns_the_same_steps(st in any_step(), n in -(1i64 << 40)..(1i64 << 40)) {
            let text = st.format_steps(n);
            prop_assert_eq!(st.to_steps(&text), Ok(n));
            if n >= 0 {
                prop_assert_eq!(st.to_steps_unsigned(&text), Ok(n));
            }
        }

        #[test]
        fn trailing_zeros_and_leading_zeros_do_not_change_the_value(
            st in any_step(), n in 0i64..(1i64 << 40), zeros in 0usize..12, lead in 0usize..4,
        ) {
            let mut text = "0".repeat(lead) + &st.format_steps(n);
            if !text.contains('.') {
                text.push('.');
                text.push('0');
            }
            text.push_str(&"0".repeat(zeros));
            prop_assert_eq!(st.to_steps(&text), Ok(n));
        }

        #[test]
        fn parsing_then_formatting_is_canonical(int in 0u64..1_000_000_000, frac in 0u64..100, pad in 0usize..6) {
            let st = Step::new(1, 2).unwrap();
            let text = format!("{int}.{frac:02}{}", "0".repeat(pad));
            let n = st.to_steps(&text).unwrap();
            prop_assert_eq!(st.format_steps(n), format!("{int}.{frac:02}"));
        }

        #[test]
        fn plain_parse_agrees_with_the_checked_one(
            s in "-?[0-9]{0,12}(\\.[0-9/:]{0,12})?[0-9x.]?", st in any_step(), signed in any::<bool>(),
        ) {
            if let Some(v) = st.parse_plain(s.as_bytes(), signed) {
                prop_assert_eq!(st.parse_checked(s.as_bytes(), signed), Ok(v), "{}", s);
            }
        }

        #[test]
        fn parser_never_panics_on_arbitrary_strings(s in "\\PC{0,40}", st in any_step()) {
            let _ = st.to_steps(&s);
            let _ = st.to_steps_unsigned(&s);
            let _ = Step::parse(&s);
        }

        #[test]
        fn parser_agrees_with_exact_integer_arithmetic(a in -1_000_000_000i64..1_000_000_000, scale in 0u8..9) {
            // The value a * 10^-scale read with a step of 10^-scale is exactly a.
            let st = Step::new(1, scale).unwrap();
            let sign = if a < 0 { "-" } else { "" };
            let abs = a.unsigned_abs();
            let text = if scale == 0 {
                format!("{sign}{abs}")
            } else {
                let p = 10u64.pow(u32::from(scale));
                format!("{sign}{}.{:0w$}", abs / p, abs % p, w = scale as usize)
            };
            prop_assert_eq!(st.to_steps(&text), Ok(a));
        }

        #[test]
        fn wire_text_round_trips_through_steps_and_its_places(
            int in 0u64..1_000_000, frac in "[0-9]{0,9}", scale in 0u8..10,
        ) {
            // Any text on the grid comes back byte for byte from (steps, places).
            let text = if frac.is_empty() { int.to_string() } else { format!("{int}.{frac}") };
            let st = Step::new(1, scale).unwrap();
            if let Ok(n) = st.to_steps(&text) {
                let mut back = String::new();
                st.write_steps_with_digits(n, frac.len() as u8, &mut back).unwrap();
                prop_assert_eq!(back, text);
            }
        }
    }
}
