//! Property tests of merging fabric documents: whatever the documents,
//! merging follows the stated rules (tables deep, arrays and scalars replaced,
//! later wins) and every diagnostic points into the file that wrote the value.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use toml::{Table, Value};

/// Small TOML tables over a few shared keys, so that documents collide.
fn value(depth: u32) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        any::<i32>().prop_map(|i| Value::Integer(i.into())),
        "[a-z]{0,4}".prop_map(Value::String),
        any::<bool>().prop_map(Value::Boolean),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        2 => leaf,
        1 => prop::collection::vec(value(0), 0..3).prop_map(Value::Array),
        2 => table(depth - 1).prop_map(Value::Table),
    ]
    .boxed()
}

fn table(depth: u32) -> BoxedStrategy<Table> {
    prop::collection::btree_map(
        prop::sample::select(vec!["a", "b", "c", "d"]),
        value(depth),
        0..4,
    )
    .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    .boxed()
}

/// The merge the documentation promises, written independently.
fn expected_merge(mut base: Table, over: Table) -> Table {
    for (key, value) in over {
        let merged = match (base.remove(&key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => Value::Table(expected_merge(b, o)),
            (_, v) => v,
        };
        base.insert(key, merged);
    }
    base
}

fn text(table: &Table) -> String {
    toml::to_string(table).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn merge_matches_the_documented_rules(docs in prop::collection::vec(table(3), 1..4)) {
        let files: Vec<(String, String)> = docs.iter().enumerate().map(|(i, t)| (format!("f{i}.toml"), text(t))).collect();
        let merged = ztps_config::testing::merge_to_value(&files).unwrap();
        let expected = docs.into_iter().reduce(expected_merge).unwrap();
        prop_assert_eq!(merged, Value::Table(expected));
    }

    #[test]
    fn merge_is_associative(a in table(3), b in table(3), c in table(3)) {
        let ab = expected_merge(a.clone(), b.clone());
        let left = ztps_config::testing::merge_to_value(&[("ab".into(), text(&ab)), ("c".into(), text(&c))]).unwrap();
        let right = ztps_config::testing::merge_to_value(&[("a".into(), text(&a)), ("b".into(), text(&b)), ("c".into(), text(&c))]).unwrap();
        prop_assert_eq!(left, right);
    }

    #[test]
    fn every_value_is_blamed_on_the_last_file_that_wrote_it(docs in prop::collection::vec(table(2), 1..4)) {
        let files: Vec<(String, String)> = docs.iter().enumerate().map(|(i, t)| (format!("f{i}.toml"), text(t))).collect();
        for (path, file) in ztps_config::testing::leaf_origins(&files).unwrap() {
            // The file named must be the last one whose document holds this key path
            // as a non-table value, reading the path through tables only.
            let last = docs.iter().enumerate().rev().find(|(_, doc)| lookup(doc, &path).is_some_and(|v| !v.is_table())).map(|(i, _)| format!("f{i}.toml"));
            prop_assert_eq!(Some(file), last, "path {}", path.join("."));
        }
    }
}

fn lookup<'a>(table: &'a Table, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let value = table.get(first)?;
    if rest.is_empty() {
        return Some(value);
    }
    lookup(value.as_table()?, rest)
}
