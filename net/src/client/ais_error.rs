//! Extraction of the `"message"` field from AIS's JSON error bodies (and from the `Hdr-Error`
//! header AIS uses for HEAD), with a forgiving scanner instead of a JSON dependency: `net`
//! needs one string out of a small object, not a general parser.

/// Extracts `"message"` from an AIS JSON error body such as
/// `{"message":"bucket \"ais://b\" does not exist","status":404}`.
///
/// Only top-level keys are considered. Returns `None` if the text is not a JSON object or has
/// no string `message`.
pub fn ais_error_message(body: &[u8]) -> Option<String> {
    let mut json = JsonScan { s: body, i: 0 };
    json.blank();
    json.eat(b'{')?;
    json.blank();
    if json.peek()? == b'}' {
        return None;
    }
    loop {
        json.blank();
        let key = json.string()?;
        json.blank();
        json.eat(b':')?;
        json.blank();
        if key == "message" {
            return if json.peek()? == b'"' {
                json.string()
            } else {
                None
            };
        }
        json.skip_value(0)?;
        json.blank();
        match json.next()? {
            b',' => continue,
            _ => return None,
        }
    }
}

/// A forgiving cursor over JSON text, just enough for [`ais_error_message`].
struct JsonScan<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonScan<'_> {
    const DEPTH_MAX: u32 = 64;

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    fn blank(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.s.get(self.i..self.i + 4)?;
        let text = std::str::from_utf8(digits).ok()?;
        let v = u32::from_str_radix(text, 16).ok()?;
        self.i += 4;
        Some(v)
    }

    /// A JSON string with escapes decoded.
    fn string(&mut self) -> Option<String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.next()? {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let c = match self.next()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    };
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                }
                b => out.push(b),
            }
        }
    }

    /// The character of a `\uXXXX` escape (after the `u`), joining surrogate pairs.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if (0xd800..0xdc00).contains(&first) {
            self.eat(b'\\')?;
            self.eat(b'u')?;
            let second = self.hex4()?;
            if !(0xdc00..0xe000).contains(&second) {
                return None;
            }
            char::from_u32(0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00))
        } else {
            char::from_u32(first)
        }
    }

    /// Skips one value of any type.
    fn skip_value(&mut self, depth: u32) -> Option<()> {
        if depth > Self::DEPTH_MAX {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.i += 1;
                self.blank();
                if self.peek()? == close {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.blank();
                    if open == b'{' {
                        self.string()?;
                        self.blank();
                        self.eat(b':')?;
                        self.blank();
                    }
                    self.skip_value(depth + 1)?;
                    self.blank();
                    match self.next()? {
                        b',' => continue,
                        b if b == close => return Some(()),
                        _ => return None,
                    }
                }
            }
            _ => {
                let start = self.i;
                while matches!(self.peek(), Some(b) if !b",}] \t\r\n".contains(&b)) {
                    self.i += 1;
                }
                (self.i > start).then_some(())
            }
        }
    }
}
