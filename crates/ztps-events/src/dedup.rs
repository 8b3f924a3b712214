//! Folding repeats: the same device asking again within a window becomes
//! one record with a count instead of a line per packet.

use std::collections::HashMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::{Event, Record};

/// More distinct keys than this in one window are not remembered one by
/// one (memory stays bounded under a flood of different MACs).
const DEFAULT_MAX_KEYS: usize = 4096;
/// Distinct events alike (same kind and interface, see
/// [`Event::similarity_key`]) reported one by one per window; the rest are
/// counted and summarised in one record when the window closes. Room for a
/// relay link's worth of leaves booting at once, not for a flood.
const DEFAULT_MAX_ALIKE: u32 = 128;

/// Events alike within one window, beyond those reported.
#[derive(Debug)]
struct Alike {
    opened: Timestamp,
    reported: u32,
    swallowed: u32,
    last: Option<(Event, Timestamp)>,
}

#[derive(Debug)]
struct Window {
    opened: Timestamp,
    repeats: u32,
    last: Event,
    last_time: Timestamp,
}

/// Emits the first occurrence of an event at once, swallows repeats with
/// the same [`Event::dedup_key`] for `window`, then emits one record
/// counting them when the window closes.
#[derive(Debug)]
pub struct Deduper {
    window: Duration,
    span: SignedDuration,
    max_keys: usize,
    max_alike: u32,
    open: HashMap<String, Window>,
    alike: HashMap<String, Alike>,
}

impl Deduper {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            span: SignedDuration::try_from(window).unwrap_or(SignedDuration::MAX),
            max_keys: DEFAULT_MAX_KEYS,
            max_alike: DEFAULT_MAX_ALIKE,
            open: HashMap::new(),
            alike: HashMap::new(),
        }
    }

    /// How many distinct events alike are reported per window before the
    /// rest are only counted.
    pub fn with_max_alike(mut self, max_alike: u32) -> Self {
        self.max_alike = max_alike.max(1);
        self
    }

    pub fn with_max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// Records to deliver for `event` seen at `now`: none when it is a
    /// repeat, otherwise its own record (preceded by the fold of an
    /// expired window of the same key, if that one had repeats).
    pub fn observe(&mut self, event: Event, now: Timestamp) -> Vec<Record> {
        if self.window.is_zero() {
            return vec![Record::new(now, event)];
        }
        let key = event.dedup_key();
        let mut out = Vec::new();
        if let Some(window) = self.open.get_mut(&key) {
            if is_open(self.span, window.opened, now) {
                window.repeats = window.repeats.saturating_add(1);
                window.last = event;
                window.last_time = now;
                return out;
            }
            if let Some(old) = self.open.remove(&key) {
                out.extend(fold(old, self.window));
            }
        }
        if self.swallow_alike(&event, now, &mut out) {
            return out;
        }
        if self.open.len() >= self.max_keys {
            out.extend(self.expire(now));
        }
        if self.open.len() < self.max_keys {
            self.open.insert(
                key,
                Window {
                    opened: now,
                    repeats: 0,
                    last: event.clone(),
                    last_time: now,
                },
            );
        }
        out.push(Record::new(now, event));
        out
    }

    /// Counts `event` against its similarity window; true when it is one
    /// too many and is only counted. A closed window's summary goes to `out`.
    fn swallow_alike(&mut self, event: &Event, now: Timestamp, out: &mut Vec<Record>) -> bool {
        let Some(key) = event.similarity_key() else {
            return false;
        };
        if let Some(alike) = self.alike.get(&key)
            && !is_open(self.span, alike.opened, now)
            && let Some(old) = self.alike.remove(&key)
        {
            out.extend(summary(old, self.window));
        }
        if !self.alike.contains_key(&key) && self.alike.len() >= self.max_keys {
            out.extend(self.expire(now));
        }
        let max_keys = self.max_keys;
        let len = self.alike.len();
        let alike = match self.alike.get_mut(&key) {
            Some(alike) => alike,
            None if len < max_keys => self.alike.entry(key).or_insert(Alike {
                opened: now,
                reported: 0,
                swallowed: 0,
                last: None,
            }),
            // Too many interfaces to track (not a real switch): report.
            None => return false,
        };
        if alike.reported < self.max_alike {
            alike.reported += 1;
            return false;
        }
        alike.swallowed = alike.swallowed.saturating_add(1);
        alike.last = Some((event.clone(), now));
        true
    }

    /// Closes every window that has run out and returns the folds of
    /// those that swallowed repeats, oldest first.
    pub fn expire(&mut self, now: Timestamp) -> Vec<Record> {
        let expired: Vec<String> = self
            .open
            .iter()
            .filter(|(_, w)| !is_open(self.span, w.opened, now))
            .map(|(k, _)| k.clone())
            .collect();
        let mut folds: Vec<Record> = expired
            .into_iter()
            .filter_map(|k| self.open.remove(&k))
            .filter_map(|w| fold(w, self.window))
            .collect();
        let expired: Vec<String> = self
            .alike
            .iter()
            .filter(|(_, a)| !is_open(self.span, a.opened, now))
            .map(|(k, _)| k.clone())
            .collect();
        folds.extend(
            expired
                .into_iter()
                .filter_map(|k| self.alike.remove(&k))
                .filter_map(|a| summary(a, self.window)),
        );
        folds.sort_by_key(|r| r.time);
        folds
    }

    /// Folds of every open window regardless of age (at shutdown).
    pub fn drain(&mut self) -> Vec<Record> {
        let mut folds: Vec<Record> = std::mem::take(&mut self.open)
            .into_values()
            .filter_map(|w| fold(w, self.window))
            .chain(
                std::mem::take(&mut self.alike)
                    .into_values()
                    .filter_map(|a| summary(a, self.window)),
            )
            .collect();
        folds.sort_by_key(|r| r.time);
        folds
    }

    /// How many keys are currently inside a window.
    pub fn open_windows(&self) -> usize {
        self.open.len()
    }

    /// Whether any window (of repeats or of events alike) is open: only
    /// then can [`Deduper::expire`] have anything to return.
    pub fn has_open_windows(&self) -> bool {
        !self.open.is_empty() || !self.alike.is_empty()
    }
}

fn is_open(span: SignedDuration, opened: Timestamp, now: Timestamp) -> bool {
    // A clock that stepped backwards closes the window rather than
    // silencing a key for an unknown time.
    let age = now.duration_since(opened);
    !age.is_negative() && age < span
}

fn summary(alike: Alike, length: Duration) -> Option<Record> {
    let (event, time) = alike.last?;
    (alike.swallowed > 0).then(|| Record::summarised(time, event, alike.swallowed, length))
}

fn fold(window: Window, length: Duration) -> Option<Record> {
    (window.repeats > 0)
        .then(|| Record::folded(window.last_time, window.last, window.repeats, length))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Clock, MacAddr, ManualClock};

    fn discover(interface: &str, last_octet: u8) -> Event {
        Event::DiscoverSeen {
            interface: interface.into(),
            mac: MacAddr([0, 0x1c, 0x73, 0, 0, last_octet]),
            serial: Some(format!("JPE{last_octet}")),
            model: None,
        }
    }

    fn start() -> Timestamp {
        "2024-05-31T16:00:00Z".parse().unwrap()
    }

    #[test]
    fn repeats_within_the_window_fold_into_one_count() {
        let clock = ManualClock::new(start());
        let mut d = Deduper::new(Duration::from_secs(60));

        let first = d.observe(discover("et3", 1), clock.now());
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].count, 1);
        for _ in 0..4 {
            clock.advance(Duration::from_secs(10));
            assert!(d.observe(discover("et3", 1), clock.now()).is_empty());
        }
        // A different device is not a repeat.
        assert_eq!(d.observe(discover("et4", 2), clock.now()).len(), 1);

        clock.advance(Duration::from_secs(19));
        assert!(
            d.expire(clock.now()).is_empty(),
            "window still open at 59 s"
        );
        clock.advance(Duration::from_secs(1));
        let folds = d.expire(clock.now());
        assert_eq!(folds.len(), 1);
        assert_eq!(folds[0].count, 4);
        assert_eq!(folds[0].time, start() + SignedDuration::from_secs(40));
        assert_eq!(
            folds[0].message,
            "leaf JPE1 asked for an address on et3 (repeated 4 more times within 60 s)"
        );
        assert_eq!(d.open_windows(), 1, "et4's window is younger");
    }

    #[test]
    fn a_repeat_after_the_window_is_reported_again_with_the_fold_first() {
        let clock = ManualClock::new(start());
        let mut d = Deduper::new(Duration::from_secs(60));
        d.observe(discover("et3", 1), clock.now());
        clock.advance(Duration::from_secs(30));
        d.observe(discover("et3", 1), clock.now());
        clock.advance(Duration::from_secs(45));
        let out = d.observe(discover("et3", 1), clock.now());
        let counts: Vec<u32> = out.iter().map(|r| r.count).collect();
        assert_eq!(
            counts,
            [1, 1],
            "fold of one repeat, then the new occurrence"
        );
        assert!(
            out[0]
                .message
                .ends_with("(repeated 1 more time within 60 s)")
        );
        assert_eq!(out[1].time, clock.now());
    }

    #[test]
    fn clock_stepping_back_reopens_the_window() {
        let clock = ManualClock::new(start());
        let mut d = Deduper::new(Duration::from_secs(60));
        d.observe(discover("et3", 1), clock.now());
        clock.set(start() - SignedDuration::from_secs(3600));
        assert_eq!(d.observe(discover("et3", 1), clock.now()).len(), 1);
    }

    #[test]
    fn key_limit_passes_floods_through_unfolded() {
        let clock = ManualClock::new(start());
        let mut d = Deduper::new(Duration::from_secs(60)).with_max_keys(2);
        for octet in 0..5 {
            assert_eq!(d.observe(discover("et3", octet), clock.now()).len(), 1);
        }
        assert_eq!(d.open_windows(), 2);
        // Untracked keys are not folded: each repeat is delivered.
        assert_eq!(d.observe(discover("et3", 4), clock.now()).len(), 1);
        assert!(d.observe(discover("et3", 0), clock.now()).is_empty());
    }

    #[test]
    fn a_flood_of_distinct_clients_becomes_a_few_lines_and_one_summary() {
        let clock = ManualClock::new(start());
        const ALIKE: u32 = 16;
        let mut d = Deduper::new(Duration::from_secs(60))
            .with_max_keys(64)
            .with_max_alike(ALIKE);
        let pool = |interface: &str| Event::PoolExhausted {
            interface: interface.into(),
            pool: "10.0.0.0/24".into(),
        };
        let mut delivered = Vec::new();
        // 10,000 DISCOVERs from spoofed MACs, each refused: pool exhausted.
        for i in 0..10_000u32 {
            let [_, _, b, c] = i.to_be_bytes();
            let event = Event::DiscoverSeen {
                interface: "et3".into(),
                mac: MacAddr([2, 0, 0, 0, b, c]),
                serial: None,
                model: None,
            };
            delivered.extend(d.observe(event, clock.now()));
            delivered.extend(d.observe(pool("et3"), clock.now()));
        }
        // Another interface is not drowned by et3's flood.
        delivered.extend(d.observe(discover("et4", 1), clock.now()));
        assert_eq!(
            delivered.len(),
            ALIKE as usize + 2,
            "16 discovers, one pool-exhausted, et4's discover"
        );
        assert!(d.open_windows() <= 64);
        clock.advance(Duration::from_secs(60));
        let folds = d.expire(clock.now());
        let counts: Vec<(&str, u32)> = folds.iter().map(|r| (r.event.kind(), r.count)).collect();
        assert_eq!(folds.len(), 2, "{counts:?}");
        assert!(counts.contains(&("pool_exhausted", 9_999)), "{counts:?}");
        assert!(
            counts.contains(&("discover_seen", 10_000 - ALIKE)),
            "{counts:?}"
        );
        let summary = folds
            .iter()
            .find(|r| r.event.kind() == "discover_seen")
            .unwrap();
        assert!(
            summary
                .message
                .ends_with("(and 9984 more events like it within 60 s, not reported one by one)"),
            "{}",
            summary.message
        );
        assert!(d.expire(clock.now()).is_empty());
        assert_eq!(d.drain().len(), 0);
    }

    #[test]
    fn zero_window_disables_folding_and_drain_flushes() {
        let mut d = Deduper::new(Duration::ZERO);
        assert_eq!(d.observe(discover("et3", 1), start()).len(), 1);
        assert_eq!(d.observe(discover("et3", 1), start()).len(), 1);

        let mut d = Deduper::new(Duration::from_secs(60));
        d.observe(discover("et3", 1), start());
        d.observe(discover("et3", 1), start());
        d.observe(discover("et3", 1), start());
        let drained = d.drain();
        assert_eq!(drained.len(), 1);
        assert_eq!(drained[0].count, 2);
        assert_eq!(d.open_windows(), 0);
    }
}
