//! Channel patterns: which message channels a `SendMessage` or `ReceiveMessage`
//! grant covers.
//!
//! The matching rules are on [`ChannelPattern`].

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// The longest channel name, in bytes.
pub const MAX_CHANNEL_LEN: usize = 255;

/// A pattern of message channels.
///
/// A channel name is one or more `.`-separated segments of ASCII letters, digits,
/// `-` and `_` (`chat`, `app.notes.sync`), at most 255 bytes. A pattern is a name
/// (that channel only), a name followed by `.*` (every channel below it, not the
/// name itself: `app.*` covers `app.x` and `app.x.y`), or `*` (every channel).
/// Matching is segment-wise, never string-prefix: `app.*` does not cover `apple`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ChannelPattern {
    /// `*`: every channel.
    Any,
    /// One channel.
    Exact(String),
    /// `NAME.*`: every channel below `NAME` (stored without the `.*`).
    Below(String),
}

/// Why a channel pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelPatternError {
    #[error(
        "invalid channel pattern `{0}`: expected `*`, NAME or NAME.* where NAME is `.`-separated segments of letters, digits, `-` and `_`"
    )]
    Invalid(String),
    #[error("channel pattern of {0} bytes is longer than {MAX_CHANNEL_LEN}")]
    TooLong(usize),
}

/// Whether `name` is a valid channel name.
pub fn is_valid_channel(name: &str) -> bool {
    name.len() <= MAX_CHANNEL_LEN
        && name.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl ChannelPattern {
    /// Whether the pattern covers `channel`. Invalid channel names are never
    /// covered.
    pub fn matches(&self, channel: &str) -> bool {
        if !is_valid_channel(channel) {
            return false;
        }
        match self {
            Self::Any => true,
            Self::Exact(name) => channel == name,
            Self::Below(prefix) => {
                channel.len() > prefix.len() + 1
                    && channel.starts_with(prefix.as_str())
                    && channel.as_bytes()[prefix.len()] == b'.'
            }
        }
    }
}

impl FromStr for ChannelPattern {
    type Err = ChannelPatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_CHANNEL_LEN {
            return Err(ChannelPatternError::TooLong(s.len()));
        }
        if s == "*" {
            return Ok(Self::Any);
        }
        let (name, below) = match s.strip_suffix(".*") {
            Some(name) => (name, true),
            None => (s, false),
        };
        if !is_valid_channel(name) {
            return Err(ChannelPatternError::Invalid(s.to_owned()));
        }
        Ok(if below {
            Self::Below(name.to_owned())
        } else {
            Self::Exact(name.to_owned())
        })
    }
}

impl TryFrom<String> for ChannelPattern {
    type Error = ChannelPatternError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ChannelPattern> for String {
    fn from(c: ChannelPattern) -> Self {
        c.to_string()
    }
}

impl fmt::Display for ChannelPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Exact(n) => f.write_str(n),
            Self::Below(n) => write!(f, "{n}.*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> ChannelPattern {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn exact_below_and_any() {
        let exact = pat("chat");
        assert!(exact.matches("chat"));
        assert!(!exact.matches("chat.admin"));
        assert!(!exact.matches("chatroom"));

        let below = pat("app.notes.*");
        assert_eq!(below, ChannelPattern::Below("app.notes".into()));
        assert!(below.matches("app.notes.sync"));
        assert!(below.matches("app.notes.a.b"));
        assert!(!below.matches("app.notes"));
        assert!(!below.matches("app.notesx.sync"));
        assert!(!below.matches("app.note"));

        let any = pat("*");
        assert!(any.matches("x") && any.matches("a.b-c_d"));
        assert!(!any.matches(""), "invalid names are never covered");
        assert!(!any.matches("a..b"));
        assert!(!any.matches("a.*"));
    }

    #[test]
    fn bad_patterns_are_refused_with_the_input() {
        for bad in [
            "", ".", "a.", ".a", "a..b", "a*", "*.a", "a.*.b", "a b", "a/b", "a.**",
        ] {
            assert_eq!(
                bad.parse::<ChannelPattern>(),
                Err(ChannelPatternError::Invalid(bad.into())),
                "{bad:?}"
            );
        }
        assert_eq!(
            "a".repeat(256).parse::<ChannelPattern>(),
            Err(ChannelPatternError::TooLong(256))
        );
        assert!(!is_valid_channel(&"x".repeat(256)));
    }

    #[test]
    fn display_and_serde_round_trip() {
        for s in ["*", "chat", "app.notes.*"] {
            assert_eq!(pat(s).to_string(), s);
            let json = serde_json::to_string(&pat(s)).unwrap();
            assert_eq!(
                serde_json::from_str::<ChannelPattern>(&json).unwrap(),
                pat(s)
            );
        }
    }
}
