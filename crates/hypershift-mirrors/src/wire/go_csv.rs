//! Go's `encoding/csv` reading exactly one record, with the default settings pflag uses
//! (comma `,`, no lazy quotes, no leading-space trimming, no comments).
//!
//! Written here rather than taken from the `csv` crate on purpose: `--registry-overrides` must
//! split exactly as pflag does, and Go's reader differs from the `csv` crate on the edges that
//! decide errors (a bare `"` in an unquoted field is an error, `\r\n` is normalised, blank
//! leading lines are skipped, only the first record is read and the rest ignored).

/// Why the record could not be read (Go's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("EOF")]
    Eof,
    #[error("parse error on line {line}, column {column}: bare \" in non-quoted-field")]
    BareQuote { line: usize, column: usize },
    #[error("parse error on line {line}, column {column}: extraneous or missing \" in quoted-field")]
    Quote { line: usize, column: usize },
}

/// Reads lines like Go's `csv.Reader.readLine`: each ends with `\n` (except possibly the last),
/// `\r\n` is normalised to `\n`, and a trailing `\r` at end of input is dropped.
struct Lines<'a> {
    rest: &'a str,
    line: usize,
}

impl Lines<'_> {
    /// The next line, or `None` at end of input.
    fn next_line(&mut self) -> Option<String> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match self.rest.find('\n') {
            Some(i) => self.rest.split_at(i + 1),
            None => (self.rest, ""),
        };
        self.rest = rest;
        self.line += 1;
        let mut line = line.to_owned();
        if !line.ends_with('\n') && line.ends_with('\r') {
            line.pop();
        }
        if line.ends_with("\r\n") {
            line.truncate(line.len() - 2);
            line.push('\n');
        }
        Some(line)
    }
}

fn length_nl(s: &str) -> usize {
    usize::from(s.ends_with('\n'))
}

/// Reads the first record of `input`.
pub fn read_record(input: &str) -> Result<Vec<String>, CsvError> {
    let mut lines = Lines { rest: input, line: 0 };
    // Skip empty lines.
    let mut line = loop {
        match lines.next_line() {
            None => return Err(CsvError::Eof),
            Some(l) if l == "\n" => {}
            Some(l) => break l,
        }
    };
    let mut fields = Vec::new();
    let mut column = 1;
    'field: loop {
        if line.starts_with('"') {
            // Quoted field: `""` is a quote, `",` ends the field, `"` at end of line ends the record;
            // a line break inside quotes continues on the next line.
            let mut field = String::new();
            line = line[1..].to_owned();
            column += 1;
            loop {
                if let Some(i) = line.find('"') {
                    field.push_str(&line[..i]);
                    line = line[i + 1..].to_owned();
                    column += i + 1;
                    if line.starts_with('"') {
                        field.push('"');
                        line = line[1..].to_owned();
                        column += 1;
                    } else if line.starts_with(',') {
                        line = line[1..].to_owned();
                        column += 1;
                        fields.push(field);
                        continue 'field;
                    } else if length_nl(&line) == line.len() {
                        fields.push(field);
                        break 'field;
                    } else {
                        return Err(CsvError::Quote {
                            line: lines.line,
                            column: column - 1,
                        });
                    }
                } else if !line.is_empty() {
                    field.push_str(&line);
                    column += line.len();
                    match lines.next_line() {
                        Some(next) => {
                            line = next;
                            column = 1;
                        }
                        None => line = String::new(),
                    }
                } else {
                    return Err(CsvError::Quote {
                        line: lines.line,
                        column,
                    });
                }
            }
        } else {
            // Unquoted field: up to the next comma or the end of the line.
            let comma = line.find(',');
            let field = match comma {
                Some(i) => &line[..i],
                None => &line[..line.len() - length_nl(&line)],
            };
            if let Some(j) = field.find('"') {
                return Err(CsvError::BareQuote {
                    line: lines.line,
                    column: column + j,
                });
            }
            fields.push(field.to_owned());
            match comma {
                Some(i) => {
                    column += i + 1;
                    line = line[i + 1..].to_owned();
                }
                None => break 'field,
            }
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(s: &str) -> Vec<String> {
        read_record(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn fields_and_quotes() {
        assert_eq!(rec("a=b,c=d"), ["a=b", "c=d"]);
        assert_eq!(rec("\"a=b,c\",d=e"), ["a=b,c", "d=e"]);
        assert_eq!(rec("\"a\"\"b\",c"), ["a\"b", "c"]);
        assert_eq!(rec("a,,b,"), ["a", "", "b", ""]);
        assert_eq!(rec("\"\""), [""]);
    }

    #[test]
    fn lines() {
        assert_eq!(rec("\n\na=b,c=d\ne=f"), ["a=b", "c=d"]);
        assert_eq!(rec("a,b\r\nc"), ["a", "b"]);
        assert_eq!(rec("a,b\r"), ["a", "b"]);
        assert_eq!(rec("\"x\ny\",z"), ["x\ny", "z"]);
        assert_eq!(rec("\"x\r\ny\",z"), ["x\ny", "z"]);
        assert_eq!(read_record(""), Err(CsvError::Eof));
        assert_eq!(read_record("\n\n"), Err(CsvError::Eof));
    }

    #[test]
    fn errors() {
        assert_eq!(
            read_record("a\"b,c"),
            Err(CsvError::BareQuote { line: 1, column: 2 })
        );
        assert_eq!(
            read_record("a,b\"c"),
            Err(CsvError::BareQuote { line: 1, column: 4 })
        );
        assert!(matches!(read_record("\"a\"b"), Err(CsvError::Quote { .. })));
        assert!(matches!(read_record("\"abc"), Err(CsvError::Quote { .. })));
        assert_eq!(
            read_record("\"a\"b").unwrap_err().to_string(),
            "parse error on line 1, column 3: extraneous or missing \" in quoted-field"
        );
    }
}
