//! The webhook against real local HTTP servers, and the hub around it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{discover, eventually, flaky_server, silent_server};
use ztps_events::{
    Event, EventsError, Hub, HubConfig, JsonLogSink, ManualClock, Record, Sink, SystemClock,
    WebhookConfig, WebhookSink,
};

fn fast_retries() -> WebhookConfig {
    WebhookConfig {
        queue_capacity: 8,
        max_attempts: 4,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        request_timeout: Duration::from_millis(300),
        extra_ca_file: None,
    }
}

fn at() -> jiff::Timestamp {
    "2024-05-31T16:08:37Z".parse().unwrap()
}

#[tokio::test]
async fn webhook_retries_after_failures_then_delivers_the_json() {
    let (addr, seen) = flaky_server(2).await;
    let mut sink = WebhookSink::spawn(
        &format!("http://{addr}/hooks/ztps?site=lab"),
        fast_retries(),
    )
    .unwrap();
    let record = Record::new(at(), discover("et3", 7, "JPE12345678"));
    sink.deliver(&record).unwrap();

    eventually("delivery", Duration::from_secs(5), || {
        sink.stats().delivered == 1
    })
    .await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "two 500s, then success");
    for request in &seen {
        assert_eq!(request.path, "/hooks/ztps?site=lab");
        assert_eq!(request.content_type, "application/json");
        let body: Record = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body, record);
        // Slack shows `text`; the structured fields ride beside it.
        let json: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(json["text"], format!("ZTPS: {}", record.message));
        assert_eq!(json["kind"], "discover_seen");
    }
    let stats = sink.stats();
    assert_eq!((stats.failed, stats.dropped, stats.queued), (0, 0, 0));
    assert_eq!(stats.attempt_failures, 2, "the two 500s");
    assert!(stats.last_success_unix > 1_700_000_000, "{stats:?}");
    // The health handle outlives the sink's hand-over and reads the same.
    assert_eq!(sink.health().stats(), stats);
}

#[tokio::test]
async fn webhook_gives_up_after_max_attempts_and_counts_it() {
    let (addr, seen) = flaky_server(usize::MAX).await;
    let mut sink = WebhookSink::spawn(&format!("http://{addr}/"), fast_retries()).unwrap();
    sink.deliver(&Record::new(
        at(),
        Event::LinkUp {
            interface: "et1".into(),
        },
    ))
    .unwrap();
    eventually("giving up", Duration::from_secs(5), || {
        sink.stats().failed == 1
    })
    .await;
    assert_eq!(seen.lock().unwrap().len(), 4);
    assert_eq!(sink.stats().delivered, 0);
}

#[tokio::test]
async fn webhook_rejects_unusable_urls() {
    for url in ["ftp://x/", "::", "http://user:token@x/"] {
        let err = WebhookSink::spawn(url, WebhookConfig::default()).unwrap_err();
        assert!(
            matches!(err, EventsError::WebhookUrl { .. }),
            "{url}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_webhook_that_never_answers_does_not_block_the_hub() {
    let (addr, accepted) = silent_server().await;
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("events.jsonl");
    let webhook = WebhookSink::spawn(
        &format!("http://{addr}/"),
        WebhookConfig {
            queue_capacity: 4,
            max_attempts: 2,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(50),
            // Longer than any test runs: a hub that waited on the webhook
            // would hang, and the bounds below would fail it.
            request_timeout: Duration::from_secs(3600),
            extra_ca_file: None,
        },
    )
    .unwrap();
    let sinks: Vec<Box<dyn Sink>> = vec![
        Box::new(webhook),
        Box::new(JsonLogSink::open(&log_path, 1 << 20).unwrap()),
    ];
    let hub = Hub::spawn(HubConfig::default(), sinks, Arc::new(SystemClock));
    let handle = hub.handle();

    for i in 0..100u8 {
        handle.emit(discover("et3", i, &format!("JPE{i}")));
    }

    // Every event reaches the ring buffer while the webhook hangs on its first request.
    eventually("all 100 records", Duration::from_secs(5), || {
        handle.recent(1000).len() == 100
    })
    .await;
    eventually("the webhook connecting", Duration::from_secs(5), || {
        accepted.load(Ordering::SeqCst) >= 1
    })
    .await;
    let recent = handle.recent(3);
    let serials: Vec<String> = recent
        .iter()
        .map(|r| match &r.event {
            Event::DiscoverSeen { serial, .. } => serial.clone().unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(serials, ["JPE97", "JPE98", "JPE99"]);

    // The webhook still hangs on its first request: shutdown must not wait for it.
    let sinks = tokio::time::timeout(Duration::from_secs(60), hub.shutdown())
        .await
        .expect("shutdown waited on the webhook");
    assert_eq!(
        std::fs::read_to_string(&log_path).unwrap().lines().count(),
        100
    );
    drop(sinks);
    assert_eq!(handle.dropped(), 0);
}

#[tokio::test]
async fn webhook_queue_drops_the_oldest_when_full() {
    let (addr, _) = silent_server().await;
    let mut sink = WebhookSink::spawn(
        &format!("http://{addr}/"),
        WebhookConfig {
            queue_capacity: 3,
            request_timeout: Duration::from_secs(30),
            ..WebhookConfig::default()
        },
    )
    .unwrap();
    // The worker takes the first record and hangs on it; the queue then fills.
    sink.deliver(&Record::new(
        at(),
        Event::LinkUp {
            interface: "et0".into(),
        },
    ))
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for i in 1..=10 {
        sink.deliver(&Record::new(
            at(),
            Event::LinkUp {
                interface: format!("et{i}"),
            },
        ))
        .unwrap();
    }
    let stats = sink.stats();
    assert_eq!((stats.queued, stats.dropped, stats.delivered), (3, 7, 0));
}

/// A sink that keeps what it is given.
#[derive(Debug, Default, Clone)]
struct Collect(Arc<Mutex<Vec<Record>>>);

impl Sink for Collect {
    fn name(&self) -> &'static str {
        "collect"
    }
    fn deliver(&mut self, record: &Record) -> Result<(), EventsError> {
        self.0.lock().unwrap().push(record.clone());
        Ok(())
    }
}

#[tokio::test]
async fn hub_folds_repeats_by_its_clock_and_reports_the_count() {
    let clock = Arc::new(ManualClock::new(at()));
    let collected = Collect::default();
    let config = HubConfig {
        tick: Duration::from_millis(10),
        ..HubConfig::default()
    };
    let hub = Hub::spawn(config, vec![Box::new(collected.clone())], clock.clone());
    let handle = hub.handle();

    for _ in 0..3 {
        handle.emit(discover("et3", 1, "JPE12345678"));
        clock.advance(Duration::from_secs(5));
    }
    handle.emit(Event::LinkUp {
        interface: "et4".into(),
    });
    eventually("two records", Duration::from_secs(5), || {
        handle.recent(10).len() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        handle.recent(10).len(),
        2,
        "repeats inside the window stay folded"
    );

    clock.advance(Duration::from_secs(60));
    // Only the discover window swallowed repeats, so only it is folded.
    eventually("the fold", Duration::from_secs(5), || {
        handle.recent(10).len() == 3
    })
    .await;
    let recent = handle.recent(10);
    let fold = recent
        .iter()
        .find(|r| r.count == 2)
        .expect("a record counting 2 repeats");
    assert_eq!(
        fold.message,
        "leaf JPE12345678 (DCS-7050SX3-48YC8) asked for an address on et3 (repeated 2 more times within 60 s)"
    );
    assert_eq!(fold.time, at() + jiff::SignedDuration::from_secs(10));
    hub.shutdown().await;
    assert_eq!(collected.0.lock().unwrap().as_slice(), recent.as_slice());
}

#[tokio::test]
async fn hub_recent_is_a_bounded_ring() {
    let config = HubConfig {
        recent_capacity: 5,
        dedup_window: Duration::ZERO,
        ..HubConfig::default()
    };
    let hub = Hub::spawn(config, Vec::new(), Arc::new(SystemClock));
    let handle = hub.handle();
    for i in 0..20 {
        handle.emit(Event::LinkUp {
            interface: format!("et{i}"),
        });
    }
    hub.shutdown().await;
    let names: Vec<String> = handle
        .recent(100)
        .into_iter()
        .map(|r| match r.event {
            Event::LinkUp { interface } => interface,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["et15", "et16", "et17", "et18", "et19"]);
    assert_eq!(handle.recent(2).len(), 2);
}

#[tokio::test]
async fn a_flood_through_the_hub_reaches_the_sinks_as_a_few_records() {
    let clock = Arc::new(ManualClock::new(at()));
    let collected = Collect::default();
    let config = HubConfig {
        queue_capacity: 20_000,
        ..HubConfig::default()
    };
    let hub = Hub::spawn(config, vec![Box::new(collected.clone())], clock);
    let handle = hub.handle();
    // 5,000 DISCOVERs from spoofed MACs on et3, each refused for want of an address.
    for i in 0..5_000u32 {
        let [_, _, b, c] = i.to_be_bytes();
        handle.emit(Event::DiscoverSeen {
            interface: "et3".into(),
            mac: ztps_events::MacAddr([2, 0, 0, 0, b, c]),
            serial: None,
            model: None,
        });
        handle.emit(Event::PoolExhausted {
            interface: "et3".into(),
            pool: "10.5.0.0/24".into(),
        });
    }
    hub.shutdown().await;
    assert_eq!(handle.dropped(), 0);
    let records = collected.0.lock().unwrap().clone();
    let of = |kind: &str| -> Vec<u32> {
        records
            .iter()
            .filter(|r| r.event.kind() == kind)
            .map(|r| r.count)
            .collect()
    };
    // The pool: once, then one fold counting the other 4,999.
    assert_eq!(of("pool_exhausted"), [1, 4_999]);
    // Discovers: the first 128 one by one, then one summary of the rest.
    let discovers = of("discover_seen");
    assert_eq!(discovers.len(), 129, "{} discover records", discovers.len());
    assert_eq!(discovers.iter().sum::<u32>(), 5_000);
    assert!(
        records.len() <= 131,
        "{} records for a 10,000-event flood",
        records.len()
    );
}
