//! Positions of the world's gate agreements and service logs by cluster.
//!
//! Both lists are kept fleet-wide and only grow over a simulated year; the
//! in-process adapter and the HTTP handlers that list one cluster's records
//! look them up here instead of scanning the whole list per request (the
//! scans made a year over HTTP quadratic).

use rustc_hash::FxHashMap;

/// Positions of a world list's records by cluster, in the world's order.
/// The world keeps gate agreements and service logs in one list each for the
/// whole fleet; they only grow over a simulated year, and scanning them for
/// every read showed in profiles. They are appended to (a deletion shifts
/// them), so the index takes in only what was appended since the last read,
/// and starts over when the list shifted.
#[derive(Debug, Clone, Default)]
pub struct ByCluster {
    /// How many of the list's records are indexed, and the id of the last of
    /// them: ids are never reused, so a list that still has that id there
    /// only grew.
    indexed: usize,
    last_id: Option<String>,
    positions: FxHashMap<String, Vec<usize>>,
}

impl ByCluster {
    /// Take in what `list` gained since the last call (or everything, when it
    /// shifted); `id` gives a record's never-reused id, `cluster` its key.
    pub fn update<T>(&mut self, list: &[T], id: impl Fn(&T) -> &str, cluster: impl Fn(&T) -> &str) {
        let grew = match &self.last_id {
            None => self.indexed == 0,
            Some(last) => self
                .indexed
                .checked_sub(1)
                .and_then(|i| list.get(i))
                .is_some_and(|r| id(r) == last),
        };
        if !grew {
            *self = ByCluster::default();
        }
        for (i, r) in list.iter().enumerate().skip(self.indexed) {
            self.positions
                .entry(cluster(r).to_owned())
                .or_default()
                .push(i);
        }
        self.indexed = list.len();
        self.last_id = list.last().map(|r| id(r).to_owned());
    }

    /// Positions of the cluster's records, oldest first.
    pub fn of(&self, cluster: &str) -> &[usize] {
        self.positions.get(cluster).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::ByCluster;

    fn index(list: &[(&str, &str)], by: &mut ByCluster) {
        by.update(list, |r| r.0, |r| r.1);
    }

    #[test]
    fn takes_in_what_was_appended_and_starts_over_when_the_list_shifted() {
        let mut by = ByCluster::default();
        let mut list = vec![("a1", "c1"), ("a2", "c2")];
        index(&list, &mut by);
        assert_eq!(by.of("c1"), [0]);
        list.push(("a3", "c1"));
        index(&list, &mut by);
        assert_eq!(by.of("c1"), [0, 2]);
        assert_eq!(by.of("c2"), [1]);
        assert!(by.of("c3").is_empty());
        // A deletion shifts the list: the positions are rebuilt.
        list.remove(0);
        index(&list, &mut by);
        assert_eq!(by.of("c1"), [1]);
        assert_eq!(by.of("c2"), [0]);
        // Emptied, then refilled with new ids.
        list.clear();
        index(&list, &mut by);
        assert!(by.of("c1").is_empty());
        list.push(("a4", "c2"));
        index(&list, &mut by);
        assert_eq!(by.of("c2"), [0]);
    }
}
