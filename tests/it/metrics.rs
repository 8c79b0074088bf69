//! Metrics against values computed by hand.

use univa::metrics::{self, MetricsError};

fn names(n: usize) -> Vec<String> {
    ["a", "b", "c", "d"][..n].iter().map(|s| (*s).to_owned()).collect()
}

fn rows(bits: &[&[u8]]) -> Vec<Vec<bool>> {
    bits.iter().map(|r| r.iter().map(|&b| b == 1).collect()).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn hand_computed_case() {
    let gold = rows(&[&[1, 0, 0], &[1, 1, 0], &[0, 0, 0], &[0, 0, 1]]);
    let pred = rows(&[&[1, 0, 0], &[1, 0, 1], &[0, 0, 0], &[1, 0, 0]]);
    let m = metrics::compute(&gold, &pred, &names(3)).unwrap();
    // Jaccard per sample: 1, 1/3, 0 (both empty scores 0), 0.
    assert!(close(m.acc, (1.0 + 1.0 / 3.0) / 4.0), "acc {}", m.acc);
    assert!(close(m.subset_acc, 0.5));
    assert!(close(m.hamming_loss, 4.0 / 12.0));
    // Pooled: tp 2, fp 2, fn 2.
    assert!(close(m.micro_f1, 0.5));
    // Label a: P 2/3, R 1, F1 0.8; b and c: 0.
    assert!(close(m.per_label[0].precision, 2.0 / 3.0));
    assert!(close(m.per_label[0].recall, 1.0));
    assert!(close(m.per_label[0].f1, 0.8));
    assert_eq!(m.per_label[0].support, 2);
    assert!(close(m.per_label[1].precision, 0.0), "0/0 precision is 0");
    assert!(close(m.macro_f1, 0.8 / 3.0));
}

#[test]
fn all_empty_scores_zero_accuracy_but_exact_match() {
    let gold = rows(&[&[0, 0], &[0, 0]]);
    let m = metrics::compute(&gold, &gold, &names(2)).unwrap();
    assert!(close(m.acc, 0.0), "empty/empty Jaccard is 0 by the reference convention");
    assert!(close(m.subset_acc, 1.0));
    assert!(close(m.hamming_loss, 0.0));
    assert!(close(m.micro_f1, 0.0));
    assert!(close(m.macro_f1, 0.0));
}

#[test]
fn perfect_predictions() {
    let gold = rows(&[&[1, 0, 1], &[0, 1, 0]]);
    let m = metrics::compute(&gold, &gold, &names(3)).unwrap();
    for v in [m.acc, m.subset_acc, m.micro_f1, m.macro_f1] {
        assert!(close(v, 1.0));
    }
    assert!(close(m.hamming_loss, 0.0));
}

#[test]
fn threshold_is_strict_and_sweep_moves_metrics() {
    let probabilities = vec![vec![0.18, 0.5, 0.32], vec![0.7, 0.1, 0.2]];
    assert_eq!(metrics::predict(&probabilities, 0.18), rows(&[&[0, 1, 1], &[1, 0, 1]]));
    let gold = rows(&[&[0, 1, 0], &[1, 0, 0]]);
    let sweep = metrics::sweep(&gold, &probabilities, &[0.18, 0.4], &names(3)).unwrap();
    assert!(close(sweep[0].1.subset_acc, 0.0));
    assert!(close(sweep[1].1.subset_acc, 1.0));
    assert_eq!(metrics::threshold_grid(0.0, 1.0, 4), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
}

#[test]
fn mismatched_inputs_are_errors() {
    let gold = rows(&[&[1, 0]]);
    assert_eq!(metrics::compute(&gold, &[], &names(2)).unwrap_err(), MetricsError::SampleCount { gold: 1, pred: 0 });
    let err = metrics::compute(&gold, &rows(&[&[1, 0, 0]]), &names(2)).unwrap_err();
    assert_eq!(err.to_string(), "sample 0 has 3 labels; expected 2");
    assert_eq!(metrics::compute(&[], &[], &names(2)).unwrap_err(), MetricsError::Empty);
}
