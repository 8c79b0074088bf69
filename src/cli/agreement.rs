use std::path::PathBuf;

use crate::va::agreement::file::{Columns, report_of_file};
use crate::va::agreement::{AgreementError, AgreementReport, RaterReport, Stat};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A CSV with a header row and one rating per row.
    #[arg(long)]
    pub ratings: PathBuf,
    /// The column naming what is rated (e.g. `id`).
    #[arg(long)]
    pub unit: String,
    /// The column holding the rating (e.g. `V`).
    #[arg(long)]
    pub value: String,
    /// The column naming the rater; adds the two-way ICCs and the pairwise CCC and Pearson r.
    #[arg(long)]
    pub rater: Option<String>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let columns = Columns { unit: args.unit.clone(), value: args.value.clone(), rater: args.rater.clone() };
    let report = report_of_file(&args.ratings, &columns)?;
    let stats = statistics(&report);
    if args.json {
        let mut object = serde_json::Map::new();
        let mut count = |key: &str, n: usize| object.insert(key.to_owned(), n.into());
        count("n_units", report.n_units);
        count("n_ratings", report.n_ratings);
        count("n_pairable_units", report.n_pairable_units);
        if let Some(r) = &report.raters {
            count("n_raters", r.n_raters);
            count("n_complete_units", r.n_complete_units);
            count("n_ccc_pairs", r.n_ccc_pairs);
            count("n_pearson_pairs", r.n_pearson_pairs);
        }
        object.insert("k0".to_owned(), report.k0.into());
        // An undefined statistic is null, with its reason beside it.
        for (key, _, stat) in &stats {
            object.insert((*key).to_owned(), stat.as_ref().ok().copied().into());
            if let Err(why) = stat {
                object.insert(format!("{key}_undefined"), why.to_string().into());
            }
        }
        println!("{}", serde_json::Value::Object(object));
    } else {
        print_table(&args.ratings.display().to_string(), &args.value, &report, &stats);
    }
    if stats.iter().all(|(_, _, stat)| stat.is_err())
        && let Some((_, _, Err(first))) = stats.first()
    {
        anyhow::bail!(
            "{}, column {:?}: no statistic is defined on these ratings; {first}",
            args.ratings.display(),
            args.value
        );
    }
    Ok(())
}

/// Each statistic: its JSON key, its name in the table, and its value or why it is undefined.
fn statistics(a: &AgreementReport) -> Vec<(&'static str, String, &Stat)> {
    let mut rows = vec![
        ("alpha_interval", "Krippendorff's alpha (interval)".to_owned(), &a.alpha_interval),
        ("icc1_1", "ICC(1,1) one-way, single rating".to_owned(), &a.icc1_1),
        ("icc1_k", format!("ICC(1,k) one-way, mean of k0 = {:.3}", a.k0), &a.icc1_k),
    ];
    if let Some(r) = &a.raters {
        rows.extend([
            ("icc_a1", "ICC(A,1) two-way, absolute agreement".to_owned(), &r.icc_a1),
            ("icc_c1", "ICC(C,1) two-way, consistency".to_owned(), &r.icc_c1),
            ("ccc_pairwise", "Lin's CCC, mean over rater pairs".to_owned(), &r.ccc_pairwise),
            ("pearson_pairwise", "Pearson r, mean over rater pairs".to_owned(), &r.pearson_pairwise),
        ]);
    }
    rows
}

fn print_table(file: &str, value: &str, a: &AgreementReport, stats: &[(&'static str, String, &Stat)]) {
    println!(
        "{file}, column {value:?}: {} ratings of {} units ({} rated at least twice)",
        a.n_ratings, a.n_units, a.n_pairable_units
    );
    if let Some(RaterReport { n_raters, n_complete_units, .. }) = &a.raters {
        println!("{n_raters} raters; {n_complete_units} units rated by all of them (the two-way ICCs use these)");
    }
    for (_, name, stat) in stats {
        match stat {
            Ok(value) => println!("  {name:<40} {value:>8.4}"),
            Err(why) => println!("  {name:<40} undefined ({})", undefined_reason(why)),
        }
    }
}

/// Why a statistic is undefined, without repeating its name.
fn undefined_reason(error: &AgreementError) -> String {
    match error {
        AgreementError::Undefined { why, .. } => (*why).to_owned(),
        other => other.to_string(),
    }
}
