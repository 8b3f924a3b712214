//! The JSON-lines log: buffering, size cap and rotation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::discover;
use ztps_events::{JsonLogSink, Record, Sink};

fn lines(path: &std::path::Path) -> Vec<Record> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn record(i: u8) -> Record {
    Record::new(
        "2024-05-31T16:08:37Z".parse().unwrap(),
        discover("et3", i, &format!("JPE{i:08}")),
    )
}

#[test]
fn writes_are_buffered_until_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let mut sink = JsonLogSink::open(&path, 1 << 20).unwrap();
    sink.deliver(&record(1)).unwrap();
    sink.deliver(&record(2)).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        0,
        "nothing reaches flash before a flush"
    );
    sink.flush().unwrap();
    assert_eq!(lines(&path), [record(1), record(2)]);
}

#[test]
fn rotates_to_dot_one_at_the_cap_and_keeps_every_recent_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let rotated = dir.path().join("events.jsonl.1");
    let line_len = record(0).to_json().unwrap().len() as u64 + 1;
    let cap = line_len * 5 + 10;
    let mut sink = JsonLogSink::open(&path, cap).unwrap();

    for i in 0..12 {
        sink.deliver(&record(i)).unwrap();
    }
    sink.flush().unwrap();
    // 12 lines, 5 per file: 0-4 went to .1 and were replaced by 5-9; 10-11 are current.
    assert!(std::fs::metadata(&path).unwrap().len() <= cap);
    assert!(std::fs::metadata(&rotated).unwrap().len() <= cap);
    assert_eq!(lines(&rotated), (5..10).map(record).collect::<Vec<_>>());
    assert_eq!(lines(&path), [record(10), record(11)]);
}

#[test]
fn reopening_appends_and_counts_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let line_len = record(0).to_json().unwrap().len() as u64 + 1;
    {
        let mut sink = JsonLogSink::open(&path, line_len * 3).unwrap();
        sink.deliver(&record(1)).unwrap();
        sink.deliver(&record(2)).unwrap();
        // Dropping flushes.
    }
    let mut sink = JsonLogSink::open(&path, line_len * 3).unwrap();
    sink.deliver(&record(3)).unwrap();
    sink.deliver(&record(4)).unwrap();
    sink.flush().unwrap();
    assert_eq!(
        lines(&dir.path().join("events.jsonl.1")),
        [record(1), record(2), record(3)]
    );
    assert_eq!(lines(&path), [record(4)]);
}

#[test]
fn a_missing_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope/events.jsonl");
    let err = JsonLogSink::open(&path, 1000).unwrap_err();
    assert!(err.to_string().contains("nope/events.jsonl"), "{err}");
}
