//! A strict cursor over compact JSON of a known shape, for the decoders' fast paths.
//!
//! It accepts a deliberately narrow subset of JSON: no whitespace between tokens, strings of
//! printable ASCII without escapes, unsigned integers without sign, fraction or exponent.
//! Everything it accepts is valid JSON and reads the same as `serde_json` would read it;
//! anything else makes it give up (`None`) so that the caller hands the message to the
//! general `serde_json` path, which either decodes it or names what is wrong. Venues send
//! their market data in exactly this compact form, so the general path is rarely taken.

/// A key of up to four bytes as one integer, so that matching a key costs one comparison.
pub(crate) const fn key_code(key: &[u8]) -> u32 {
    let mut code = 0u32;
    let mut i = 0;
    while i < key.len() {
        code = code << 8 | key[i] as u32;
        i += 1;
    }
    code
}

/// Index of the first `needle` in `hay`, eight bytes at a time.
#[inline]
pub(crate) fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    let pattern = u64::from_le_bytes([needle; 8]);
    let mut i = 0;
    while let Some(chunk) = hay.get(i..).and_then(|r| r.first_chunk::<8>()) {
        // Zero bytes of `v` are matches; the lowest flagged byte is the first match.
        let v = u64::from_le_bytes(*chunk) ^ pattern;
        let hits = v.wrapping_sub(0x0101_0101_0101_0101) & !v & 0x8080_8080_8080_8080;
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    hay[i..].iter().position(|&b| b == needle).map(|p| i + p)
}

/// The non-empty lines of a buffer of newline-separated messages (a trailing `\r` is
/// dropped), for decoding a batch without a Python object per message.
pub fn lines(buffer: &[u8]) -> impl Iterator<Item = &[u8]> + Send {
    let mut rest = buffer;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let (line, tail) = match find_byte(rest, b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        rest = tail;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.is_empty() {
            return Some(line);
        }
    })
}

/// A position in a message; every method consumes its token or returns `None`.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    /// The next byte, not consumed.
    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Consumes and returns the next byte.
    #[inline]
    pub(crate) fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    /// Consumes `b` exactly.
    #[inline]
    pub(crate) fn byte(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }

    /// Consumes `lit` exactly.
    #[inline]
    pub(crate) fn lit(&mut self, lit: &[u8]) -> Option<()> {
        let rest = self.bytes.get(self.pos..self.pos + lit.len())?;
        // A byte loop rather than a slice comparison: the literals are short and a
        // `memcmp` call costs more than comparing them.
        if rest.iter().zip(lit).all(|(a, b)| a == b) {
            self.pos += lit.len();
            Some(())
        } else {
            None
        }
    }

    /// The raw content of a string of printable ASCII with no escape.
    #[inline]
    pub(crate) fn str_bytes(&mut self) -> Option<&'a [u8]> {
        self.byte(b'"')?;
        let start = self.pos;
        loop {
            let b = *self.bytes.get(self.pos)?;
            self.pos += 1;
            if b == b'"' {
                return Some(&self.bytes[start..self.pos - 1]);
            }
            // Control bytes are invalid JSON; escapes and non-ASCII need the full parser.
            if !(0x20..0x7f).contains(&b) || b == b'\\' {
                return None;
            }
        }
    }

    /// The raw bytes up to the next `"` of a string, unchecked, for fields whose content
    /// the caller validates strictly anyway: a decimal parser accepts only digits, `.` and
    /// `-`, so an escape, a control byte or non-ASCII in the field still sends the message
    /// to the full parser. Looks for the quote eight bytes at a time.
    #[inline]
    pub(crate) fn quoted(&mut self) -> Option<&'a [u8]> {
        self.byte(b'"')?;
        let start = self.pos;
        let len = find_byte(&self.bytes[start..], b'"')?;
        self.pos = start + len + 1;
        Some(&self.bytes[start..start + len])
    }

    /// A string of printable ASCII with no escape: its content.
    #[inline]
    pub(crate) fn str(&mut self) -> Option<&'a str> {
        let s = self.str_bytes()?;
        // SAFETY: `str_bytes` returns printable ASCII only, which is valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(s) })
    }

    /// An object key of at most four bytes and its colon, as [`key_code`] of the key;
    /// longer keys give `u32::MAX`, which matches no code.
    #[inline]
    pub(crate) fn key(&mut self) -> Option<u32> {
        let k = self.str_bytes()?;
        self.byte(b':')?;
        Some(if k.len() <= 4 { key_code(k) } else { u32::MAX })
    }

    /// A JSON integer that fits a u64 for certain (at most 19 digits, no leading zero).
    #[inline]
    pub(crate) fn u64(&mut self) -> Option<u64> {
        let rest = &self.bytes[self.pos..];
        let len = rest
            .iter()
            .take(20)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if len == 0 || len > 19 || (len > 1 && rest[0] == b'0') {
            return None;
        }
        // A fraction or an exponent makes it a float, which the wire shapes never allow.
        if matches!(rest.get(len), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let v = rest[..len]
            .iter()
            .fold(0u64, |v, &b| v * 10 + u64::from(b - b'0'));
        self.pos += len;
        Some(v)
    }

    /// `true` or `false`.
    #[inline]
    pub(crate) fn bool(&mut self) -> Option<bool> {
        if self.lit(b"true").is_some() {
            Some(true)
        } else {
            self.lit(b"false").map(|_| false)
        }
    }

    /// After a member of an object: `Some(true)` at `,` (more follow), `Some(false)` at the
    /// closing `}`.
    #[inline]
    pub(crate) fn more_members(&mut self) -> Option<bool> {
        match self.next()? {
            b',' => Some(true),
            b'}' => Some(false),
            _ => None,
        }
    }

    /// True when nothing but JSON whitespace is left.
    pub(crate) fn at_end(&self) -> bool {
        self.bytes[self.pos..]
            .iter()
            .all(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_the_wire_never_sends_are_left_to_the_full_parser() {
        for bad in ["01", "-1", "1.0", "1e3", "", "12345678901234567890"] {
            assert_eq!(Cursor::new(bad.as_bytes()).u64(), None, "{bad}");
        }
        assert_eq!(
            Cursor::new(b"1234567890123456789,").u64(),
            Some(1_234_567_890_123_456_789)
        );
        assert_eq!(Cursor::new(b"0}").u64(), Some(0));
    }

    #[test]
    fn strings_with_escapes_control_bytes_or_non_ascii_are_left_to_the_full_parser() {
        for bad in [r#""a\"b""#, "\"a\tb\"", "\"caf\u{e9}\"", "\"open"] {
            assert_eq!(Cursor::new(bad.as_bytes()).str(), None, "{bad}");
        }
        let mut c = Cursor::new(br#""61837.63000000","x""#);
        assert_eq!(c.str(), Some("61837.63000000"));
        assert_eq!(c.next(), Some(b','));
    }

    #[test]
    fn lines_split_on_newlines_and_skip_empty_ones() {
        let got: Vec<&[u8]> = lines(b"a\r\n\n0123456789abcdef\nlast").collect();
        assert_eq!(got, vec![&b"a"[..], b"0123456789abcdef", b"last"]);
        assert_eq!(lines(b"\n\n").count(), 0);
    }

    #[test]
    fn quoted_finds_the_first_quote_at_any_offset() {
        for len in 0..40 {
            let body = "7".repeat(len);
            let text = format!("\"{body}\"\"tail\"");
            let mut c = Cursor::new(text.as_bytes());
            assert_eq!(c.quoted(), Some(body.as_bytes()), "{len}");
            assert_eq!(c.str(), Some("tail"));
            let open = format!("\"{body}");
            assert_eq!(Cursor::new(open.as_bytes()).quoted(), None, "{len}");
        }
    }
}
