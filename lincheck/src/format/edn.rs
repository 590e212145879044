//! A small EDN reader: enough for Jepsen histories.
//!
//! Supports nil, booleans, integers, floats, strings (with `\"`, `\\`, `\n`, `\t`
//! escapes), characters are not needed and rejected, keywords, symbols, lists, vectors,
//! sets, maps, `;` comments, and commas as whitespace. Every value carries the line and
//! column where it starts, for error messages. Tagged literals (`#inst`, `#uuid`, ...)
//! are read as their tagged value (the tag is dropped), because Jepsen writes `:time`
//! as plain integers but some histories carry tagged metadata in ignored fields.

use crate::error::TextError;

/// An EDN value with the position where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Edn {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The value.
    pub value: EdnValue,
}

/// EDN values.
#[derive(Clone, Debug, PartialEq)]
pub enum EdnValue {
    /// `nil`
    Nil,
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A keyword, without the colon.
    Keyword(String),
    /// A symbol.
    Symbol(String),
    /// `(...)`
    List(Vec<Edn>),
    /// `[...]`
    Vector(Vec<Edn>),
    /// `#{...}`
    Set(Vec<Edn>),
    /// `{...}`, in source order.
    Map(Vec<(Edn, Edn)>),
}

impl EdnValue {
    /// A short description for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            EdnValue::Nil => "nil",
            EdnValue::Bool(_) => "a boolean",
            EdnValue::Int(_) => "an integer",
            EdnValue::Float(_) => "a float",
            EdnValue::Str(_) => "a string",
            EdnValue::Keyword(_) => "a keyword",
            EdnValue::Symbol(_) => "a symbol",
            EdnValue::List(_) => "a list",
            EdnValue::Vector(_) => "a vector",
            EdnValue::Set(_) => "a set",
            EdnValue::Map(_) => "a map",
        }
    }
}

/// An EDN reader over any byte source, buffered: a history file is read incrementally and
/// never held whole in memory.
pub struct Reader<R> {
    src: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    io_error: Option<std::io::Error>,
    line: usize,
    column: usize,
}

const MAX_DEPTH: usize = 256;

/// Reads every top-level form of `text`.
pub fn parse_all(text: &str) -> Result<Vec<Edn>, TextError> {
    let mut reader = Reader::new(text.as_bytes());
    let mut forms = Vec::new();
    while let Some(form) = reader.next_form()? {
        forms.push(form);
    }
    Ok(forms)
}

impl<R: std::io::Read> Reader<R> {
    /// A reader of `src`, starting at line 1, column 1.
    pub fn new(src: R) -> Self {
        Reader {
            src,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            io_error: None,
            line: 1,
            column: 1,
        }
    }

    /// The current line and column (1-based).
    pub fn position(&self) -> (usize, usize) {
        (self.line, self.column)
    }

    /// The next top-level form, or `None` at the end of the input.
    pub fn next_form(&mut self) -> Result<Option<Edn>, TextError> {
        self.skip_ws();
        if self.peek().is_none() {
            return self.end_of_input().map(|()| None);
        }
        self.value(0).map(Some)
    }

    /// If the next form opens a vector or a list, consumes the opening bracket and returns
    /// the closing one; otherwise consumes nothing. With [`Reader::next_item`], reads a
    /// large top-level vector one element at a time.
    pub fn open_sequence(&mut self) -> Option<u8> {
        self.skip_ws();
        let close = match self.peek()? {
            b'[' => b']',
            b'(' => b')',
            _ => return None,
        };
        self.bump();
        Some(close)
    }

    /// The next element of a sequence opened by [`Reader::open_sequence`], or `None`
    /// after consuming its closing bracket.
    pub fn next_item(&mut self, close: u8) -> Result<Option<Edn>, TextError> {
        self.skip_ws();
        match self.peek() {
            None => {
                self.end_of_input()?;
                Err(self.error(format!("unexpected end of input: expected '{}'", close as char)))
            }
            Some(c) if c == close => {
                self.bump();
                Ok(None)
            }
            Some(_) => self.value(1).map(Some),
        }
    }

    fn end_of_input(&mut self) -> Result<(), TextError> {
        match self.io_error.take() {
            Some(e) => Err(self.error(format!("cannot read: {e}"))),
            None => Ok(()),
        }
    }

    #[inline]
    fn peek(&mut self) -> Option<u8> {
        if self.start == self.end {
            self.fill();
        }
        (self.start < self.end).then(|| self.buf[self.start])
    }

    fn fill(&mut self) {
        while !self.eof {
            match self.src.read(&mut self.buf) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.start = 0;
                    self.end = n;
                    return;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.io_error = Some(e);
                    self.eof = true;
                }
            }
        }
    }

    #[inline]
    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.start += 1;
        if c == b'\n' {
            self.line += 1;
            self.column = 1;
        } else if c & 0xC0 != 0x80 {
            self.column += 1;
        }
        Some(c)
    }

    fn error(&self, message: impl Into<String>) -> TextError {
        TextError::new(self.line, self.column, message)
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() || c == b',' {
                self.bump();
            } else if c == b';' {
                while let Some(c) = self.peek() {
                    if c == b'\n' {
                        break;
                    }
                    self.bump();
                }
            } else {
                break;
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Edn, TextError> {
        if depth > MAX_DEPTH {
            return Err(self.error("EDN nested too deeply"));
        }
        self.skip_ws();
        let (line, column) = (self.line, self.column);
        let Some(c) = self.peek() else {
            return Err(self.error("unexpected end of input: expected a value"));
        };
        let value = match c {
            b'(' => {
                self.bump();
                EdnValue::List(self.seq(b')', depth)?)
            }
            b'[' => {
                self.bump();
                EdnValue::Vector(self.seq(b']', depth)?)
            }
            b'{' => {
                self.bump();
                let items = self.seq(b'}', depth)?;
                if items.len() % 2 != 0 {
                    return Err(TextError::new(line, column, "map literal has an odd number of forms"));
                }
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                EdnValue::Map(pairs)
            }
            b'#' => {
                self.bump();
                match self.peek() {
                    Some(b'{') => {
                        self.bump();
                        EdnValue::Set(self.seq(b'}', depth)?)
                    }
                    Some(b'_') => {
                        // Discard the next form.
                        self.bump();
                        self.value(depth + 1)?;
                        return self.value(depth);
                    }
                    Some(c) if c.is_ascii_alphabetic() => {
                        self.token()?;
                        return self.value(depth + 1);
                    }
                    _ => return Err(self.error("unsupported dispatch character after '#'")),
                }
            }
            b'"' => {
                self.bump();
                EdnValue::Str(self.string()?)
            }
            b')' | b']' | b'}' => return Err(self.error(format!("unexpected '{}'", c as char))),
            b'\\' => return Err(self.error("EDN characters are not supported")),
            _ => {
                let token = self.token()?;
                if token.is_empty() {
                    return Err(self.error(format!("unexpected character '{}'", c as char)));
                }
                atom(&token).map_err(|m| TextError::new(line, column, m))?
            }
        };
        Ok(Edn { line, column, value })
    }

    fn seq(&mut self, close: u8, depth: usize) -> Result<Vec<Edn>, TextError> {
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None => return Err(self.error(format!("unexpected end of input: expected '{}'", close as char))),
                Some(c) if c == close => {
                    self.bump();
                    return Ok(items);
                }
                Some(_) => items.push(self.value(depth + 1)?),
            }
        }
    }

    fn string(&mut self) -> Result<String, TextError> {
        let mut bytes = Vec::new();
        loop {
            match self.bump() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => break,
                Some(b'\\') => match self.bump() {
                    Some(b'"') => bytes.push(b'"'),
                    Some(b'\\') => bytes.push(b'\\'),
                    Some(b'n') => bytes.push(b'\n'),
                    Some(b't') => bytes.push(b'\t'),
                    Some(b'r') => bytes.push(b'\r'),
                    _ => return Err(self.error("unsupported escape in string")),
                },
                Some(c) => bytes.push(c),
            }
        }
        String::from_utf8(bytes).map_err(|_| self.error("string is not valid UTF-8"))
    }

    fn token(&mut self) -> Result<String, TextError> {
        let (line, column) = (self.line, self.column);
        let mut bytes = Vec::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() || matches!(c, b',' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'"' | b';') {
                break;
            }
            bytes.push(c);
            self.bump();
        }
        String::from_utf8(bytes).map_err(|_| TextError::new(line, column, "not valid UTF-8"))
    }
}

fn atom(token: &str) -> Result<EdnValue, String> {
    Ok(match token {
        "nil" => EdnValue::Nil,
        "true" => EdnValue::Bool(true),
        "false" => EdnValue::Bool(false),
        _ if token.starts_with(':') => {
            if token.len() == 1 {
                return Err("empty keyword".into());
            }
            EdnValue::Keyword(token[1..].to_string())
        }
        _ if token.starts_with(|c: char| c.is_ascii_digit())
            || (token.len() > 1
                && token.starts_with(['-', '+'])
                && token[1..].starts_with(|c: char| c.is_ascii_digit())) =>
        {
            let digits = token.strip_suffix('N').unwrap_or(token);
            if let Ok(i) = digits.parse::<i64>() {
                EdnValue::Int(i)
            } else if let Ok(f) = token.strip_suffix('M').unwrap_or(token).parse::<f64>() {
                EdnValue::Float(f)
            } else {
                return Err(format!("invalid number '{token}'"));
            }
        }
        _ => EdnValue::Symbol(token.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_jepsen_op_with_positions() {
        let forms = parse_all("{:process 0, :type :invoke,\n :f :cas, :value [1 2]}").unwrap();
        assert_eq!(forms.len(), 1);
        let EdnValue::Map(pairs) = &forms[0].value else { panic!("a map") };
        assert_eq!(pairs.len(), 4);
        assert_eq!(pairs[2].0.value, EdnValue::Keyword("f".into()));
        assert_eq!((pairs[2].0.line, pairs[2].0.column), (2, 2));
        let EdnValue::Vector(v) = &pairs[3].1.value else { panic!("a vector") };
        assert_eq!(v[1].value, EdnValue::Int(2));
    }

    #[test]
    fn reports_unterminated_forms_where_the_input_ends() {
        let err = parse_all("{:a 1\n :b [1 2").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("expected ']'"), "{}", err.message);
        let err = parse_all("{:a}").unwrap_err();
        assert!(err.message.contains("odd number"));
        let err = parse_all("[1 2))").unwrap_err();
        assert_eq!((err.line, err.column), (1, 5));
    }

    #[test]
    fn reads_scalars() {
        let forms = parse_all("nil true -3 2.5 \"a\\\"b\" sym #{1} (1) ; comment\n#inst \"x\"").unwrap();
        let values: Vec<_> = forms.into_iter().map(|f| f.value).collect();
        assert_eq!(values[0], EdnValue::Nil);
        assert_eq!(values[1], EdnValue::Bool(true));
        assert_eq!(values[2], EdnValue::Int(-3));
        assert_eq!(values[3], EdnValue::Float(2.5));
        assert_eq!(values[4], EdnValue::Str("a\"b".into()));
        assert_eq!(values[5], EdnValue::Symbol("sym".into()));
        assert!(matches!(values[6], EdnValue::Set(_)));
        assert!(matches!(values[7], EdnValue::List(_)));
        assert_eq!(values[8], EdnValue::Str("x".into()));
    }
}
