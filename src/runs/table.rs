//! The ablation table (paper Tables 3–5): one row per run, a column per config field that
//! differs among the runs, then the five headline metrics, the best value of each marked.

use serde_json::{Map, Value};

use super::config::{FlatConfig, differing_fields, display_value};
use crate::metrics::Metrics;

/// The five headline metrics, keyed as `univa eval --json` prints them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum MetricKey {
    Acc,
    SubsetAcc,
    HammingLoss,
    #[default]
    MicroF1,
    MacroF1,
}

impl MetricKey {
    pub const ALL: [Self; 5] = [Self::Acc, Self::SubsetAcc, Self::HammingLoss, Self::MicroF1, Self::MacroF1];

    /// The key of `univa eval --json` (the field name of [`Metrics`]).
    pub fn json_key(self) -> &'static str {
        match self {
            Self::Acc => "acc",
            Self::SubsetAcc => "subset_acc",
            Self::HammingLoss => "hamming_loss",
            Self::MicroF1 => "micro_f1",
            Self::MacroF1 => "macro_f1",
        }
    }

    /// The paper's column heading.
    pub fn heading(self) -> &'static str {
        match self {
            Self::Acc => "Acc",
            Self::SubsetAcc => "subset Acc",
            Self::HammingLoss => "HL",
            Self::MicroF1 => "miF1",
            Self::MacroF1 => "maF1",
        }
    }

    pub fn value(self, metrics: &Metrics) -> f64 {
        match self {
            Self::Acc => metrics.acc,
            Self::SubsetAcc => metrics.subset_acc,
            Self::HammingLoss => metrics.hamming_loss,
            Self::MicroF1 => metrics.micro_f1,
            Self::MacroF1 => metrics.macro_f1,
        }
    }

    /// Hamming loss is the one metric where lower is better.
    pub fn higher_is_better(self) -> bool {
        self != Self::HammingLoss
    }
}

/// Which of `values` are the best (every tie is marked; NaN never is).
pub fn best_marks(values: &[f64], higher_is_better: bool) -> Vec<bool> {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let best = if higher_is_better { finite.reduce(f64::max) } else { finite.reduce(f64::min) };
    values.iter().map(|v| Some(*v) == best).collect()
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct TableRow {
    pub run: String,
    /// The run's value of each of the table's `fields` (`None` where the run has no such key).
    pub fields: Vec<Option<Value>>,
    pub metrics: Metrics,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AblationTable {
    /// The config fields that differ among the runs, in key order.
    pub fields: Vec<String>,
    pub rows: Vec<TableRow>,
}

impl AblationTable {
    /// A table of `(run name, flat config, metrics)`, in the order given.
    pub fn new(runs: Vec<(String, &FlatConfig, Metrics)>) -> Self {
        let configs: Vec<&FlatConfig> = runs.iter().map(|(_, c, _)| *c).collect();
        let fields = differing_fields(&configs);
        let rows = runs
            .into_iter()
            .map(|(run, config, metrics)| TableRow {
                run,
                fields: fields.iter().map(|f| config.get(f).cloned()).collect(),
                metrics,
            })
            .collect();
        Self { fields, rows }
    }

    /// Which rows hold the best value of `metric`.
    pub fn best(&self, metric: MetricKey) -> Vec<bool> {
        let values: Vec<f64> = self.rows.iter().map(|r| metric.value(&r.metrics)).collect();
        best_marks(&values, metric.higher_is_better())
    }

    /// A list of objects: `run`, each differing field (null where a run lacks it), and the five
    /// metrics under `univa eval --json`'s keys.
    pub fn to_json(&self) -> Value {
        let rows = self.rows.iter().map(|row| {
            let mut object = Map::new();
            object.insert("run".to_owned(), Value::String(row.run.clone()));
            for (field, value) in self.fields.iter().zip(&row.fields) {
                object.insert(field.clone(), value.clone().unwrap_or(Value::Null));
            }
            for metric in MetricKey::ALL {
                object.insert(metric.json_key().to_owned(), serde_json::json!(metric.value(&row.metrics)));
            }
            Value::Object(object)
        });
        Value::Array(rows.collect())
    }

    /// Aligned columns; the best value of each metric carries a `*`.
    pub fn to_plain(&self) -> String {
        let mut header: Vec<String> = vec!["run".to_owned()];
        header.extend(self.fields.iter().cloned());
        // A trailing space keeps headings over the digits, clear of the best-value mark.
        header.extend(MetricKey::ALL.iter().map(|m| format!("{} ", m.heading())));
        let best: Vec<Vec<bool>> = MetricKey::ALL.iter().map(|&m| self.best(m)).collect();
        let mut lines: Vec<Vec<String>> = vec![header];
        for (r, row) in self.rows.iter().enumerate() {
            let mut cells = vec![row.run.clone()];
            cells.extend(row.fields.iter().map(|v| v.as_ref().map_or_else(|| "—".to_owned(), display_value)));
            for (m, metric) in MetricKey::ALL.iter().enumerate() {
                let mark = if best[m][r] { "*" } else { " " };
                cells.push(format!("{:.4}{mark}", metric.value(&row.metrics)));
            }
            lines.push(cells);
        }
        let columns = lines[0].len();
        let widths: Vec<usize> =
            (0..columns).map(|c| lines.iter().map(|l| l[c].chars().count()).max().unwrap_or(0)).collect();
        let metric_start = columns - MetricKey::ALL.len();
        let mut out = String::new();
        for line in &lines {
            let cells: Vec<String> = line
                .iter()
                .enumerate()
                .map(|(c, cell)| {
                    let pad = widths[c] - cell.chars().count();
                    // Text left, numbers right.
                    if c >= metric_start {
                        format!("{}{cell}", " ".repeat(pad))
                    } else {
                        format!("{cell}{}", " ".repeat(pad))
                    }
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out.push_str("* best per metric (HL: lowest)\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::runs::config::flatten;

    fn metrics(acc: f64, hl: f64, f1: f64) -> Metrics {
        Metrics { acc, subset_acc: acc / 2.0, hamming_loss: hl, micro_f1: f1, macro_f1: f1 / 2.0, per_label: vec![] }
    }

    #[test]
    fn best_marks_take_the_direction_and_every_tie() {
        assert_eq!(best_marks(&[0.2, 0.5, 0.5, 0.1], true), [false, true, true, false]);
        assert_eq!(best_marks(&[0.2, 0.5, 0.1], false), [false, false, true]);
        assert_eq!(best_marks(&[f64::NAN, 0.3], true), [false, true]);
        assert!(best_marks(&[], true).is_empty());
    }

    #[test]
    fn table_lists_differing_fields_and_marks_the_best_per_metric() {
        let a = flatten(&json!({ "loss": { "delta": 0.1 }, "train": { "seed": 1 } }));
        let b = flatten(&json!({ "loss": { "delta": 0.3 }, "train": { "seed": 1 } }));
        let c = flatten(&json!({ "system": "MulT" }));
        let table = AblationTable::new(vec![
            ("a".to_owned(), &a, metrics(0.5, 0.20, 0.6)),
            ("b".to_owned(), &b, metrics(0.4, 0.10, 0.7)),
            ("mult".to_owned(), &c, metrics(0.3, 0.30, 0.5)),
        ]);
        assert_eq!(table.fields, ["loss.delta"]);
        assert_eq!(table.best(MetricKey::Acc), [true, false, false]);
        assert_eq!(table.best(MetricKey::HammingLoss), [false, true, false]);
        assert_eq!(table.best(MetricKey::MicroF1), [false, true, false]);

        let rows = table.to_json();
        assert_eq!(
            rows[2],
            json!({ "run": "mult", "loss.delta": null, "acc": 0.3, "subset_acc": 0.15, "hamming_loss": 0.3,
                    "micro_f1": 0.5, "macro_f1": 0.25 })
        );
        let plain = table.to_plain();
        let lines: Vec<&str> = plain.lines().collect();
        assert_eq!(lines[0], "run   loss.delta     Acc   subset Acc       HL     miF1     maF1");
        assert_eq!(lines[1], "a     0.1         0.5000*      0.2500*  0.2000   0.6000   0.3000");
        assert_eq!(lines[2], "b     0.3         0.4000       0.2000   0.1000*  0.7000*  0.3500*");
        assert_eq!(lines[3], "mult  —           0.3000       0.1500   0.3000   0.5000   0.2500");
        assert_eq!(lines[4], "* best per metric (HL: lowest)");
    }
}
