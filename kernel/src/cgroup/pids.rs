//! The pids controller (same files on v1 and v2): the task limit, the count, and how
//! often a fork was refused at the limit.

use super::{CgroupError, Limits, Site, files};

const PIDS_MAX: &str = "pids.max";
const PIDS_CURRENT: &str = "pids.current";
/// `max N`: forks refused because of `pids.max` (in this group or, on v2, below it).
const PIDS_EVENTS: &str = "pids.events";

pub(crate) fn apply(site: &Site, max: u64) -> Result<(), CgroupError> {
    let value = if max == Limits::UNLIMITED {
        "max".to_owned()
    } else {
        max.to_string()
    };
    files::write(&site.dir().join(PIDS_MAX), &value)
}

pub(crate) fn current(site: &Site) -> Result<u64, CgroupError> {
    files::read_single(&site.dir().join(PIDS_CURRENT))
}

pub(crate) fn max_events(site: &Site) -> Result<u64, CgroupError> {
    files::read_keyed(&site.dir().join(PIDS_EVENTS), "max")
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn limit_count_and_events() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(PIDS_MAX), "max\n").unwrap();
        fs::write(d.path().join(PIDS_CURRENT), "5\n").unwrap();
        fs::write(d.path().join(PIDS_EVENTS), "max 17\n").unwrap();
        let site = Site::V1(d.path().to_owned());
        apply(&site, 5).unwrap();
        assert_eq!(fs::read_to_string(d.path().join(PIDS_MAX)).unwrap(), "5");
        apply(&site, Limits::UNLIMITED).unwrap();
        assert_eq!(fs::read_to_string(d.path().join(PIDS_MAX)).unwrap(), "max");
        assert_eq!(current(&site).unwrap(), 5);
        assert_eq!(max_events(&site).unwrap(), 17);
    }
}
