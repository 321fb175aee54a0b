//! The scheduling policies.

use std::str::FromStr;

/// How the scheduler picks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    RoundRobin,
    Priority,
    /// Weighted fair sharing (the default, like CFS/EEVDF itself).
    #[default]
    Fair,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RoundRobin => "round-robin",
            Self::Priority => "priority",
            Self::Fair => "fair",
        }
    }
}

impl FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "round-robin" | "rr" => Ok(Self::RoundRobin),
            "priority" => Ok(Self::Priority),
            "fair" => Ok(Self::Fair),
            other => Err(format!(
                "unknown policy {other:?}: round-robin, priority or fair"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        assert_eq!("round_robin".parse::<Policy>(), Ok(Policy::RoundRobin));
        assert_eq!("Priority".parse::<Policy>(), Ok(Policy::Priority));
        assert_eq!("fair".parse::<Policy>(), Ok(Policy::Fair));
        assert!("lottery".parse::<Policy>().is_err());
        assert_eq!(Policy::default(), Policy::Fair);
    }
}
