//! `univa explain --run R --dataset D --id ID`: why the run predicted what it did for one
//! utterance (attention over time and words, modality contributions, nearest training
//! utterances); `--split S --out F.csv`: the contributions of a whole split and how often each
//! modality's removal flips a decision.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::dataset::{Dataset, Split};
use crate::explain::{self, Ablation, Explainer, Explanation, FlipRate, Rule, StepMapper};
use crate::fsutil::write_atomic;
use crate::modality::Modality;
use crate::train::TrainedModel;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run folder written by `univa train`.
    #[arg(long)]
    pub run: PathBuf,
    /// Dataset of the utterance(s) [default: the one the run was trained on].
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Id of the utterance to explain.
    #[arg(long, required_unless_present_any = ["split", "bench", "clip"], conflicts_with_all = ["split", "bench", "clip"])]
    pub id: Option<String>,
    /// A clip of one's own: acquired into a scratch dataset in the user's cache with the models
    /// and settings the run's training dataset was acquired with, then explained.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["split", "bench"])]
    pub clip: Option<PathBuf>,
    /// The clip's transcript [default: a .txt or .srt of the same name beside the clip].
    #[arg(long, requires = "clip", conflicts_with = "transcript_file")]
    pub transcript: Option<String>,
    /// A .txt or .srt file with the clip's transcript.
    #[arg(long, requires = "clip", value_name = "FILE")]
    pub transcript_file: Option<PathBuf>,
    /// Nearest training utterances per representation.
    #[arg(long, default_value_t = 5)]
    pub k: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Explain every utterance of this split: write its contributions to --out and print how
    /// often removing each modality flips a decision.
    #[arg(long)]
    pub split: Option<Split>,
    /// CSV of a split's contributions: id, modality, ablation, rule, flips, p_<label>…, d_<label>….
    #[arg(long, requires = "split", conflicts_with = "bench")]
    pub out: Option<PathBuf>,
    /// Benchmark: explain N utterances of --split [default: test] one by one after the one-time
    /// index build, each against a plain prediction of the same utterance, and print the times.
    #[arg(long, value_name = "N")]
    pub bench: Option<usize>,
    /// Decision threshold ζ; defaults to the run's.
    #[arg(long)]
    pub threshold: Option<f32>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let trained = explain::load_run(&args.run)?;
    let recorded = explain::training_dataset_path(&args.run, &trained).ok().filter(|p| p.is_dir());
    if let Some(clip) = &args.clip {
        let Some(training) = recorded.as_ref().or(args.dataset.as_ref()) else {
            anyhow::bail!(
                "run {}: its training dataset is not recorded or not there; give it with --dataset",
                args.run.display()
            );
        };
        return explain_clip(args, clip, trained, &Dataset::open(training)?);
    }
    let dataset_path = match (&args.dataset, &recorded) {
        (Some(path), _) => path.clone(),
        (None, Some(path)) => path.clone(),
        (None, None) => anyhow::bail!(
            "run {}: its training dataset is not recorded or not there; give the dataset with --dataset",
            args.run.display()
        ),
    };
    let dataset = Dataset::open(&dataset_path)?;
    let started = std::time::Instant::now();
    let explainer = match &recorded {
        Some(path) if !same_folder(path, &dataset_path) => {
            let training = Dataset::open(path)?;
            Explainer::new(trained, &training, args.threshold)?
        }
        Some(_) => Explainer::new(trained, &dataset, args.threshold)?,
        None => {
            eprintln!(
                "the run's training dataset is not at hand; the training split of {} gives the means and neighbours",
                dataset_path.display()
            );
            Explainer::new(trained, &dataset, args.threshold)?
        }
    };
    let index_secs = started.elapsed().as_secs_f64();
    if let Some(n) = args.bench {
        let split = args.split.unwrap_or(Split::Test);
        print!("{}", bench(&explainer, &dataset, split, n, args.k, index_secs)?);
        return Ok(());
    }
    match (&args.id, args.split, &args.out) {
        (Some(id), _, _) => {
            let utterance = Explainer::find(&dataset, id)?;
            let mapper = StepMapper::for_dataset(&dataset);
            let explanation = explainer.explain(&dataset, &mapper, utterance, args.k)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&explanation)?);
            } else {
                print!("{}", render(&explanation, &dataset));
            }
            Ok(())
        }
        (None, Some(split), Some(out)) => {
            let rows = explainer.contributions(&dataset, split, &mut |_| true)?;
            let bytes = explain::contributions_csv(&rows, &dataset, &explainer.label_names())
                .context("could not write the CSV")?;
            write_atomic(out, &bytes).with_context(|| format!("{}", out.display()))?;
            let rates = explain::flip_rates(&rows);
            if args.json {
                println!("{}", serde_json::to_string_pretty(&rates)?);
            } else {
                print!(
                    "{}",
                    flip_table(&rates, rows.len(), explainer.label_names().len(), split, explainer.threshold())
                );
                println!("wrote the contributions of {} utterances to {}", rows.len(), out.display());
            }
            Ok(())
        }
        _ => anyhow::bail!("give --id ID, or --split S with --out F.csv"),
    }
}

/// `--clip`: a scratch dataset acquired like the run's training dataset, then its one utterance.
fn explain_clip(args: &Args, clip: &std::path::Path, trained: TrainedModel, training: &Dataset) -> anyhow::Result<()> {
    let transcript = explain::clip::transcript(clip, args.transcript.as_deref(), args.transcript_file.as_deref())?;
    let bar = indicatif::ProgressBar::hidden();
    let mut progress = |done: usize, total: usize| {
        if bar.is_hidden() && total > 0 {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_message("acquiring the clip");
            bar.set_length(total as u64);
        }
        bar.set_position(done as u64);
    };
    let root = explain::clip::scratch_root()?;
    let scratch = explain::clip::acquire_for_run(&trained, training, clip, transcript.as_deref(), &root, &mut progress)
        .with_context(|| format!("acquiring {} failed", clip.display()))?;
    bar.finish_and_clear();
    for failure in &scratch.summary.failures {
        eprintln!("{}: no {} ({}); the model sees it as empty", clip.display(), failure.modality, failure.reason);
    }
    let explainer = Explainer::new(trained, training, args.threshold)?;
    let mapper = StepMapper::for_dataset(&scratch.dataset);
    let explanation = explainer.explain(&scratch.dataset, &mapper, 0, args.k)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&explanation)?);
    } else {
        println!("{} (scratch dataset {})", clip.display(), scratch.dataset.root.display());
        print!("{}", render(&explanation, &scratch.dataset));
    }
    Ok(())
}

/// Times `n` utterances of `split` (evenly spread over it): a plain prediction, then the whole
/// explanation, each utterance in turn; medians and the 95th percentile.
fn bench(
    explainer: &Explainer,
    dataset: &Dataset,
    split: Split,
    n: usize,
    k: usize,
    index_secs: f64,
) -> anyhow::Result<String> {
    let all = dataset.split_indices(split);
    anyhow::ensure!(!all.is_empty(), "{}: split {split} has no utterances", dataset.root.display());
    let n = n.clamp(1, all.len());
    let chosen: Vec<usize> = (0..n).map(|i| all[i * all.len() / n]).collect();
    let mapper = StepMapper::for_dataset(dataset);
    explainer.explain(dataset, &mapper, chosen[0], k)?;
    let (mut predict, mut explain) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for &index in &chosen {
        let started = std::time::Instant::now();
        explainer.predict(dataset, index)?;
        predict.push(started.elapsed().as_secs_f64() * 1e3);
        let started = std::time::Instant::now();
        explainer.explain(dataset, &mapper, index, k)?;
        explain.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[(v.len() * 95 / 100).min(v.len() - 1)])
    };
    let ((p50, p95), (e50, e95)) = (stats(&mut predict), stats(&mut explain));
    Ok(format!(
        "training index: {} utterances encoded in {index_secs:.2} s\n\
         {n} {split} utterances, k = {k}\n\
         plain predict: median {p50:.2} ms, p95 {p95:.2} ms\n\
         explain:       median {e50:.2} ms, p95 {e95:.2} ms ({:.1}× a plain predict)\n",
        explainer.training_size(),
        e50 / p50.max(1e-9)
    ))
}

fn same_folder(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// α as a strip of block characters, one per real step, scaled to the largest.
fn sparkline(weights: &[f32]) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = weights.iter().copied().fold(0.0f32, f32::max).max(1e-12);
    weights.iter().map(|w| BLOCKS[((w / max) * 7.0).round().clamp(0.0, 7.0) as usize]).collect()
}

fn mark(on: bool) -> &'static str {
    if on { "yes" } else { "-" }
}

/// The explanation as text for a terminal.
pub fn render(e: &Explanation, dataset: &Dataset) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let split = dataset.utterances.get(e.utterance).map_or("", |u| u.split.name());
    let _ = writeln!(out, "utterance {} ({split}), threshold {:.3}", e.id, e.threshold);
    let _ = writeln!(out, "\n{:<12} {:>6} {:>5} {:>9}", "label", "p", "gold", "predicted");
    for (i, label) in e.labels.iter().enumerate() {
        let _ = writeln!(
            out,
            "{label:<12} {:>6.3} {:>5} {:>9}",
            e.probabilities[i],
            mark(e.gold.get(i).copied().unwrap_or(false)),
            mark(e.predicted[i])
        );
    }
    if let Some(u) = dataset.utterances.get(e.utterance) {
        let _ = writeln!(out, "VA (valence, arousal): {}", va_line(&u.va));
    }
    let _ = writeln!(out, "\nattention over time (α per real step)");
    for a in &e.attention {
        let weights: Vec<f32> = a.steps.iter().map(|s| s.weight).collect();
        let unit = match a.unit {
            explain::timeline::TimeUnit::Seconds => "s",
            explain::timeline::TimeUnit::Fraction => "of the utterance",
        };
        let peak = a.steps.iter().max_by(|x, y| x.weight.total_cmp(&y.weight));
        let peak = peak.map_or_else(String::new, |s| {
            format!("peak {:.3} at {:.2}–{:.2} {unit}", s.weight, s.span.start, s.span.end)
        });
        let _ = writeln!(out, "  {:<7} {} {peak}", a.modality.name(), sparkline(&weights));
        let _ = writeln!(out, "          {}", a.placement);
        if !a.words.is_empty() {
            let words: Vec<String> = a.words.iter().map(|w| format!("{}[{:.2}]", w.word, w.weight)).collect();
            let _ = writeln!(out, "          words: {}", words.join(" "));
            if a.words_exact {
                let _ = writeln!(out, "          special tokens: {:.2}", a.special_weight);
            }
        }
    }
    for rule in Rule::ALL {
        let _ = writeln!(
            out,
            "\ncontributions, removed = {} (Δ probability; * the decision flips)",
            match rule {
                Rule::TrainMean => "replaced by the training mean of its H_m",
                Rule::Zero => "replaced by zeros",
            }
        );
        let mut header = format!("  {:<16}", "");
        for label in &e.labels {
            let _ = write!(header, " {label:>9}");
        }
        let _ = writeln!(out, "{header}");
        for ablation in Ablation::ALL {
            for c in e.contributions.iter().filter(|c| c.rule == rule && c.ablation == ablation) {
                let mut line = format!("  {:<16}", format!("{} {}", ablation.name(), c.modality.name()));
                for (d, flip) in c.delta.iter().zip(&c.flips) {
                    let _ = write!(line, " {:>+8.3}{}", d, if *flip { "*" } else { " " });
                }
                let _ = writeln!(out, "{line}");
            }
        }
    }
    let _ = writeln!(out, "\nnearest training utterances");
    for list in &e.neighbours {
        let _ = writeln!(out, "  in {}:", list.space.name());
        for n in &list.neighbours {
            let labels = if n.labels.is_empty() { "-".to_owned() } else { n.labels.join(";") };
            let _ = writeln!(out, "    {:<14} {:>8.3}  {:<22} {}", n.id, n.distance, labels, va_line(&n.va));
        }
    }
    out
}

/// Per-modality VA as `text +0.12,-0.30  vision …`, `-` when there is none.
fn va_line(va: &crate::modality::PerModality<Option<crate::dataset::Va>>) -> String {
    let parts: Vec<String> = Modality::ALL
        .iter()
        .filter_map(|&m| va.get(m).map(|va| format!("{} {:+.2},{:+.2}", m.name(), va.valence, va.arousal)))
        .collect();
    if parts.is_empty() { "-".to_owned() } else { parts.join("  ") }
}

/// How often each ablation flips a decision, as a text table.
pub fn flip_table(rates: &[FlipRate], utterances: usize, labels: usize, split: Split, threshold: f32) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "{utterances} {} utterances, threshold {threshold:.3}", split.name());
    let _ = writeln!(
        out,
        "{:<9} {:<8} {:<11} {:>22} {:>22} {:>10}",
        "modality", "ablation", "rule", "utterances flipped", "decisions flipped", "mean Σ|Δ|"
    );
    let decisions = utterances * labels;
    for r in rates {
        let _ = writeln!(
            out,
            "{:<9} {:<8} {:<11} {:>13} ({:>5.1} %) {:>13} ({:>5.1} %) {:>10.3}",
            r.modality.name(),
            r.ablation.name(),
            r.rule.name(),
            r.utterances_flipped,
            100.0 * r.utterances_flipped as f64 / utterances.max(1) as f64,
            r.decisions_flipped,
            100.0 * r.decisions_flipped as f64 / decisions.max(1) as f64,
            r.mean_change
        );
    }
    out
}
