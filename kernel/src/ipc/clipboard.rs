//! The clipboard: one per user, each entry a set of MIME formats of one copy
//! (`text/plain`, `text/html`, `image/png`…), with a bounded history and
//! subscribers that wait for the next copy.
//!
//! Whose clipboard: a user caller's uid; a managed process acts for the user who
//! runs the kernel (it is that user's program), whatever uid its sandbox has.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, SystemTime},
};

use tokio::sync::Notify;

use crate::error::KernelError;

/// Entries kept per user, newest first.
pub const HISTORY: usize = 32;
/// Largest entry, all formats together.
pub const MAX_ENTRY: usize = 4 << 20;
/// Most formats in one entry.
pub const MAX_FORMATS: usize = 16;

/// One format of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    pub mime: String,
    pub data: Vec<u8>,
}

/// One copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Per user, from 1.
    pub seq: u64,
    pub formats: Vec<Format>,
    /// The managed process that copied it (`None`: the user).
    pub source: Option<u32>,
    pub copied: SystemTime,
}

impl Entry {
    /// Only the format `mime` (all of them when empty); NOT_FOUND if absent.
    pub fn only(mut self, mime: &str) -> Result<Self, KernelError> {
        if mime.is_empty() {
            return Ok(self);
        }
        self.formats.retain(|f| f.mime == mime);
        if self.formats.is_empty() {
            return Err(KernelError::NotFound(format!(
                "clipboard format {mime:?} in entry {}",
                self.seq
            )));
        }
        Ok(self)
    }
}

#[derive(Default)]
struct Board {
    history: VecDeque<Entry>,
    seq: u64,
}

/// Every user's clipboard.
#[derive(Default)]
pub struct Clipboards {
    boards: Mutex<HashMap<u32, Board>>,
    copied: Notify,
}

/// Checks a MIME type: `type/subtype`, printable ASCII, no spaces.
fn check_mime(mime: &str) -> Result<(), KernelError> {
    let ok = mime.len() <= 255
        && mime
            .split_once('/')
            .is_some_and(|(t, s)| !t.is_empty() && !s.is_empty())
        && mime.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(KernelError::InvalidArgument(format!(
            "clipboard format {mime:?}: a MIME type such as text/plain"
        )))
    }
}

impl Clipboards {
    /// Makes `formats` `user`'s current entry; its sequence number.
    pub fn copy(
        &self,
        user: u32,
        formats: Vec<Format>,
        source: Option<u32>,
    ) -> Result<u64, KernelError> {
        if formats.is_empty() || formats.len() > MAX_FORMATS {
            return Err(KernelError::InvalidArgument(format!(
                "a copy holds 1 to {MAX_FORMATS} formats, not {}",
                formats.len()
            )));
        }
        let mut size = 0;
        for (i, f) in formats.iter().enumerate() {
            check_mime(&f.mime)?;
            if formats[..i].iter().any(|g| g.mime == f.mime) {
                return Err(KernelError::InvalidArgument(format!(
                    "clipboard format {:?} given twice",
                    f.mime
                )));
            }
            size += f.data.len();
        }
        if size > MAX_ENTRY {
            return Err(KernelError::InvalidArgument(format!(
                "a copy of {size} bytes; the clipboard holds at most {MAX_ENTRY} per entry"
            )));
        }
        let mut boards = self.boards.lock().expect("clipboard lock");
        let board = boards.entry(user).or_default();
        board.seq += 1;
        board.history.push_front(Entry {
            seq: board.seq,
            formats,
            source,
            copied: SystemTime::now(),
        });
        board.history.truncate(HISTORY);
        let seq = board.seq;
        drop(boards);
        self.copied.notify_waiters();
        Ok(seq)
    }

    /// The entry `back` copies ago (0: the current one).
    pub fn paste(&self, user: u32, back: usize) -> Result<Entry, KernelError> {
        self.boards
            .lock()
            .expect("clipboard lock")
            .get(&user)
            .and_then(|b| b.history.get(back).cloned())
            .ok_or_else(|| {
                KernelError::NotFound(if back == 0 {
                    "a clipboard entry (nothing was copied)".into()
                } else {
                    format!("clipboard entry {back} back (history keeps {HISTORY})")
                })
            })
    }

    /// Up to `limit` entries, newest first (0: all kept).
    pub fn history(&self, user: u32, limit: usize) -> Vec<Entry> {
        let boards = self.boards.lock().expect("clipboard lock");
        let Some(b) = boards.get(&user) else {
            return vec![];
        };
        let n = if limit == 0 { b.history.len() } else { limit };
        b.history.iter().take(n).cloned().collect()
    }

    /// The first entry of `user` newer than `after`, waiting up to `wait`.
    pub async fn next(&self, user: u32, after: u64, wait: Duration) -> Result<Entry, KernelError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let copied = self.copied.notified();
            {
                let boards = self.boards.lock().expect("clipboard lock");
                if let Some(e) = boards
                    .get(&user)
                    .and_then(|b| b.history.iter().rev().find(|e| e.seq > after))
                {
                    return Ok(e.clone());
                }
            }
            if tokio::time::timeout_at(deadline, copied).await.is_err() {
                return Err(KernelError::Timeout(wait));
            }
        }
    }

    /// Empties `user`'s clipboard and history.
    pub fn clear(&self, user: u32) {
        if let Some(b) = self.boards.lock().expect("clipboard lock").get_mut(&user) {
            b.history.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn text(s: &str) -> Format {
        Format {
            mime: "text/plain".into(),
            data: s.into(),
        }
    }

    #[test]
    fn copy_paste_history_per_user_with_formats() {
        let c = Clipboards::default();
        assert!(c.paste(1, 0).is_err(), "empty");
        let html = Format {
            mime: "text/html".into(),
            data: b"<b>a</b>".to_vec(),
        };
        c.copy(1, vec![text("a"), html.clone()], None).unwrap();
        c.copy(1, vec![text("b")], Some(9)).unwrap();
        c.copy(2, vec![text("other user")], None).unwrap();
        let now = c.paste(1, 0).unwrap();
        assert_eq!(
            (now.seq, now.source, now.formats.clone()),
            (2, Some(9), vec![text("b")])
        );
        assert_eq!(
            c.paste(1, 1).unwrap().only("text/html").unwrap().formats,
            [html]
        );
        assert!(c.paste(1, 0).unwrap().only("image/png").is_err());
        assert_eq!(c.paste(2, 0).unwrap().formats, [text("other user")]);
        let h: Vec<u64> = c.history(1, 0).iter().map(|e| e.seq).collect();
        assert_eq!(h, [2, 1]);
        for i in 0..HISTORY + 5 {
            c.copy(1, vec![text(&i.to_string())], None).unwrap();
        }
        assert_eq!(c.history(1, 0).len(), HISTORY, "bounded");
        c.clear(1);
        assert!(c.paste(1, 0).is_err());
        assert!(c.paste(2, 0).is_ok(), "another user's clipboard stays");
    }

    #[test]
    fn bad_copies_are_refused() {
        let c = Clipboards::default();
        let bad = |mime: &str| Format {
            mime: mime.into(),
            data: vec![],
        };
        for f in [
            vec![],
            vec![bad("plain")],
            vec![bad("text/ plain")],
            vec![text("a"), text("b")],
        ] {
            assert!(matches!(
                c.copy(1, f, None),
                Err(KernelError::InvalidArgument(_))
            ));
        }
        let big = Format {
            mime: "application/octet-stream".into(),
            data: vec![0; MAX_ENTRY + 1],
        };
        assert!(c.copy(1, vec![big], None).is_err());
    }

    #[tokio::test]
    async fn a_subscriber_wakes_on_the_next_copy() {
        let c = Arc::new(Clipboards::default());
        c.copy(1, vec![text("old")], None).unwrap();
        let c2 = Arc::clone(&c);
        let w = tokio::spawn(async move { c2.next(1, 1, Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        c.copy(2, vec![text("not mine")], None).unwrap();
        c.copy(1, vec![text("new")], None).unwrap();
        assert_eq!(w.await.unwrap().unwrap().formats, [text("new")]);
        let e = c.next(1, 2, Duration::from_millis(10)).await.unwrap_err();
        assert!(matches!(e, KernelError::Timeout(_)));
    }
}
