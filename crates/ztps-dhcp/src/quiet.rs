//! Folding of per-packet log lines and events: a flood must not become a
//! flood of log lines (one refused DISCOVER, one line, was 2,000 lines a
//! second). The first occurrence of a kind on a key is let through, then
//! at most one per window, carrying how many were folded into it.

use std::collections::HashMap;

/// At most one line per kind and key in this many milliseconds.
const WINDOW_MS: u64 = 10_000;
/// Keys are interfaces and pools, so few; past this the oldest are dropped
/// rather than letting a changing key grow memory.
const MAX_KEYS: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct Quiet {
    /// `(kind, key)` -> (when the last line went out, lines folded since).
    seen: HashMap<(&'static str, String), (u64, u64)>,
}

impl Quiet {
    /// `Some(folded)` when a line of `kind` about `key` may go out now,
    /// with the number of lines folded since the last one.
    pub(crate) fn allow(&mut self, kind: &'static str, key: &str, now_ms: u64) -> Option<u64> {
        if let Some((last, folded)) = self.seen.get_mut(&(kind, key.to_string())) {
            if now_ms.saturating_sub(*last) < WINDOW_MS {
                *folded += 1;
                return None;
            }
            let count = std::mem::take(folded);
            *last = now_ms;
            return Some(count);
        }
        if self.seen.len() >= MAX_KEYS {
            self.seen
                .retain(|_, (last, _)| now_ms.saturating_sub(*last) < WINDOW_MS);
            if self.seen.len() >= MAX_KEYS {
                return None;
            }
        }
        self.seen.insert((kind, key.to_string()), (now_ms, 0));
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_window_with_the_count_of_folded_ones() {
        let mut q = Quiet::default();
        assert_eq!(q.allow("exhausted", "a", 0), Some(0));
        assert_eq!(
            (1..1000)
                .filter_map(|t| q.allow("exhausted", "a", t))
                .count(),
            0
        );
        assert_eq!(q.allow("exhausted", "b", 5), Some(0), "another key");
        assert_eq!(q.allow("malformed", "a", 5), Some(0), "another kind");
        assert_eq!(q.allow("exhausted", "a", WINDOW_MS), Some(999));
        assert_eq!(q.allow("exhausted", "a", WINDOW_MS + 1), None);
    }
}
