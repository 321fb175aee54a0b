//! A bounded least-recently-used cache of generated Blueprints, keyed by prompt.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use crate::blueprint::Blueprint;

/// Keeps at most `capacity` specs; the least recently used goes first.
#[derive(Debug)]
pub struct SpecCache {
    capacity: usize,
    tick: u64,
    entries: HashMap<String, (Arc<Blueprint>, u64)>,
    /// Last use → key, to find the oldest in O(log n).
    by_use: BTreeMap<u64, String>,
}

/// The cache key of a prompt: lowercase, whitespace collapsed, trailing punctuation gone.
pub fn normalise(prompt: &str) -> String {
    let words: Vec<String> = prompt.split_whitespace().map(str::to_lowercase).collect();
    words.join(" ").trim_end_matches(['.', '!', '?']).to_owned()
}

impl SpecCache {
    /// A cache of at most `capacity` specs (at least one).
    pub fn new(capacity: usize) -> Self {
        SpecCache {
            capacity: capacity.max(1),
            tick: 0,
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&mut self, key: &str) -> Option<Arc<Blueprint>> {
        self.tick += 1;
        let (bp, used) = self.entries.get_mut(key)?;
        self.by_use.remove(used);
        *used = self.tick;
        self.by_use.insert(self.tick, key.to_owned());
        Some(bp.clone())
    }

    pub fn insert(&mut self, key: String, bp: Arc<Blueprint>) {
        self.tick += 1;
        if let Some((_, used)) = self.entries.remove(&key) {
            self.by_use.remove(&used);
        }
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        self.by_use.insert(self.tick, key.clone());
        self.entries.insert(key, (bp, self.tick));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bp(id: &str) -> Arc<Blueprint> {
        let text = format!(
            r#"{{"spec":"1.0","app":{{"id":"{id}","name":"N","version":"1"}},
               "ui":{{"title":"T","components":[{{"type":"divider","id":"d","props":{{}}}}]}}}}"#
        );
        Arc::new(crate::blueprint::parse(&text).unwrap())
    }

    #[test]
    fn the_least_recently_used_goes_first() {
        let mut c = SpecCache::new(2);
        c.insert("a".into(), bp("a"));
        c.insert("b".into(), bp("b"));
        assert!(c.get("a").is_some()); // b is now the oldest
        c.insert("c".into(), bp("c"));
        assert_eq!(c.len(), 2);
        assert!(c.get("b").is_none());
        assert_eq!(c.get("a").unwrap().app.id, "a");
        assert_eq!(c.get("c").unwrap().app.id, "c");
        c.insert("c".into(), bp("c2"));
        assert_eq!(c.len(), 2, "replacing a key does not grow the cache");
        assert_eq!(c.get("c").unwrap().app.id, "c2");
    }

    #[test]
    fn prompts_normalise() {
        assert_eq!(normalise("  A   Calculator! "), "a calculator");
        assert_eq!(normalise("a calculator"), normalise("A CALCULATOR."));
    }
}
