//! A decoder for server-sent events (the `text/event-stream` of streaming chat APIs).
//!
//! Per the HTML spec's "event stream interpretation": lines end in LF, CRLF or CR;
//! `data:` lines of one event are joined with LF; a blank line ends the event;
//! lines starting with `:` are comments; other fields (`event:`, `id:`, `retry:`) are
//! not needed for chat completions and are skipped. Bytes may be split anywhere,
//! even inside a UTF-8 character.

/// Turns chunks of bytes into the `data` of complete events.
#[derive(Debug, Default)]
pub struct SseDecoder {
    pending: Vec<u8>,
    data: Option<String>,
    /// The last byte was a CR, so a following LF belongs to the same line end.
    after_cr: bool,
}

/// The longest line kept while waiting for its end.
const MAX_LINE: usize = 1 << 20;

/// Why a stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("an event-stream line is longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("an event-stream line is not UTF-8")]
    NotUtf8,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the data of each event they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<String>, SseError> {
        let mut events = Vec::new();
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.pending);
                    let line = String::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
                    self.line(&line, &mut events);
                }
                _ => {
                    if self.pending.len() >= MAX_LINE {
                        return Err(SseError::LineTooLong);
                    }
                    self.pending.push(b);
                }
            }
        }
        Ok(events)
    }

    /// Ends the stream: an event without its blank line still counts.
    pub fn finish(&mut self) -> Result<Vec<String>, SseError> {
        let mut events = Vec::new();
        if !self.pending.is_empty() {
            let line = String::from_utf8(std::mem::take(&mut self.pending))
                .map_err(|_| SseError::NotUtf8)?;
            self.line(&line, &mut events);
        }
        events.extend(self.data.take());
        Ok(events)
    }

    fn line(&mut self, line: &str, events: &mut Vec<String>) {
        if line.is_empty() {
            events.extend(self.data.take());
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        if field == "data" {
            match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_decode_the_same() {
        let stream = "data: one\n\n: a comment\nevent: x\ndata: two\ndata: lines\r\n\r\ndata:three\r\rdata: é\n\n";
        let whole = SseDecoder::new().push(stream.as_bytes()).unwrap();
        assert_eq!(whole, ["one", "two\nlines", "three", "é"]);
        for split in 1..stream.len() {
            let mut d = SseDecoder::new();
            let mut got = Vec::new();
            for chunk in stream.as_bytes().chunks(split) {
                got.extend(d.push(chunk).unwrap());
            }
            got.extend(d.finish().unwrap());
            assert_eq!(got, whole, "split every {split} bytes");
        }
    }

    #[test]
    fn an_unterminated_event_counts_at_the_end() {
        let mut d = SseDecoder::new();
        assert!(d.push(b"data: [DONE]").unwrap().is_empty());
        assert_eq!(d.finish().unwrap(), ["[DONE]"]);
    }

    #[test]
    fn bad_bytes_are_errors() {
        assert_eq!(
            SseDecoder::new().push(b"data: \xff\n"),
            Err(SseError::NotUtf8)
        );
        let long = vec![b'a'; MAX_LINE + 1];
        assert_eq!(SseDecoder::new().push(&long), Err(SseError::LineTooLong));
    }
}
