//! Run configurations as flat maps of dotted keys (`loss.delta`, `train.learning_rate`), the
//! differences between runs, and the sweeps hidden among them.

use std::collections::BTreeMap;

use serde_json::Value;

/// A configuration flattened to dotted keys; leaves are JSON scalars or arrays.
pub type FlatConfig = BTreeMap<String, Value>;

/// Flattens nested objects into dotted keys; arrays and scalars are leaves.
pub fn flatten(value: &Value) -> FlatConfig {
    let mut flat = FlatConfig::new();
    flatten_into(value, String::new(), &mut flat);
    flat
}

fn flatten_into(value: &Value, prefix: String, flat: &mut FlatConfig) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten_into(child, path, flat);
            }
        }
        leaf => {
            flat.insert(prefix, leaf.clone());
        }
    }
}

/// A value as a table cell shows it: strings bare, arrays joined with commas.
pub fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(display_value).collect::<Vec<_>>().join(","),
        Value::Null => "—".to_owned(),
        other => other.to_string(),
    }
}

/// One key whose value differs between two configurations (`None`: the run has no such key).
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigChange {
    pub key: String,
    pub a: Option<Value>,
    pub b: Option<Value>,
}

/// Every key whose value differs between `a` and `b`, in key order.
pub fn diff(a: &FlatConfig, b: &FlatConfig) -> Vec<ConfigChange> {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|key| a.get(*key) != b.get(*key))
        .map(|key| ConfigChange { key: key.clone(), a: a.get(key).cloned(), b: b.get(key).cloned() })
        .collect()
}

/// The keys whose value is not the same in every configuration that has them, in key order.
/// A key only some runs have (an imported system has no model settings) differs only if those
/// runs disagree on it.
pub fn differing_fields(configs: &[&FlatConfig]) -> Vec<String> {
    let mut seen: BTreeMap<&String, &Value> = BTreeMap::new();
    let mut differing = std::collections::BTreeSet::new();
    for config in configs {
        for (key, value) in *config {
            match seen.get(key) {
                Some(first) if *first != value => {
                    differing.insert(key.clone());
                }
                Some(_) => {}
                None => {
                    seen.insert(key, value);
                }
            }
        }
    }
    differing.into_iter().collect()
}

/// Runs that differ in exactly one numeric field, as (field value, index into `configs`) sorted
/// by value: one series per group of runs that agree on every other key.
pub fn sweep_series(configs: &[&FlatConfig], field: &str) -> Vec<Vec<(f64, usize)>> {
    let mut groups: BTreeMap<String, Vec<(f64, usize)>> = BTreeMap::new();
    for (index, config) in configs.iter().enumerate() {
        let Some(x) = config.get(field).and_then(Value::as_f64) else { continue };
        let mut rest = (*config).clone();
        rest.remove(field);
        // A canonical text of the other keys identifies the group (BTreeMap keeps key order).
        let key = serde_json::to_string(&rest).unwrap_or_default();
        groups.entry(key).or_default().push((x, index));
    }
    groups
        .into_values()
        .filter(|points| points.iter().any(|(x, _)| *x != points[0].0))
        .map(|mut points| {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            points
        })
        .collect()
}

/// The numeric fields some runs sweep (differ in that field alone), in key order.
pub fn swept_fields(configs: &[&FlatConfig]) -> Vec<String> {
    differing_fields(configs)
        .into_iter()
        .filter(|field| configs.iter().any(|c| c.get(field).is_some_and(Value::is_number)))
        .filter(|field| !sweep_series(configs, field).is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config(delta: f64, lr: f64) -> FlatConfig {
        flatten(&json!({
            "preset": "small",
            "loss": { "delta": delta, "contrastive": "va-driven" },
            "train": { "learning_rate": lr, "epochs": 2 },
            "model": { "modalities": ["text", "audio"] }
        }))
    }

    #[test]
    fn flattening_gives_dotted_keys_with_arrays_as_leaves() {
        let flat = config(0.1, 1e-3);
        let keys: Vec<&str> = flat.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["loss.contrastive", "loss.delta", "model.modalities", "preset", "train.epochs", "train.learning_rate"]
        );
        assert_eq!(flat["loss.delta"], json!(0.1));
        assert_eq!(display_value(&flat["model.modalities"]), "text,audio");
        assert_eq!(display_value(&flat["preset"]), "small");
        assert_eq!(display_value(&flat["train.learning_rate"]), "0.001");
    }

    #[test]
    fn diff_lists_changed_added_and_removed_keys() {
        let a = config(0.1, 1e-3);
        let mut b = config(0.3, 1e-3);
        b.remove("preset");
        b.insert("system".to_owned(), json!("MulT"));
        let changes = diff(&a, &b);
        assert_eq!(
            changes,
            [
                ConfigChange { key: "loss.delta".to_owned(), a: Some(json!(0.1)), b: Some(json!(0.3)) },
                ConfigChange { key: "preset".to_owned(), a: Some(json!("small")), b: None },
                ConfigChange { key: "system".to_owned(), a: None, b: Some(json!("MulT")) },
            ]
        );
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn differing_fields_ignore_keys_a_run_lacks() {
        let (a, b, c) = (config(0.1, 1e-3), config(0.3, 1e-3), config(0.3, 5e-4));
        let imported = flatten(&json!({ "system": "MulT" }));
        assert_eq!(differing_fields(&[&a, &b, &imported]), ["loss.delta"]);
        assert_eq!(differing_fields(&[&a, &b, &c]), ["loss.delta", "train.learning_rate"]);
        assert!(differing_fields(&[&a, &imported]).is_empty());
        assert!(differing_fields(&[&a]).is_empty());
    }

    #[test]
    fn sweeps_group_runs_that_differ_in_one_field_only() {
        let runs = [config(0.3, 1e-3), config(0.1, 1e-3), config(0.5, 1e-3), config(0.1, 5e-4)];
        let refs: Vec<&FlatConfig> = runs.iter().collect();
        // δ is swept over runs 0–2 (same rate); run 3 has another rate and no δ partner.
        assert_eq!(sweep_series(&refs, "loss.delta"), [vec![(0.1, 1), (0.3, 0), (0.5, 2)]]);
        // The rate is swept between runs 1 and 3, which share δ = 0.1.
        assert_eq!(sweep_series(&refs, "train.learning_rate"), [vec![(5e-4, 3), (1e-3, 1)]]);
        assert_eq!(swept_fields(&refs), ["loss.delta", "train.learning_rate"]);
        // A string field is never a sweep axis, and one run is no sweep.
        assert!(sweep_series(&refs, "loss.contrastive").is_empty());
        assert!(swept_fields(&refs[..1]).is_empty());
    }
}
