use std::path::PathBuf;

use crate::va::agreement::file::{Columns, agreement_of_file};
use crate::va::agreement::{Agreement, RaterAgreement};

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
    let agreement = agreement_of_file(&args.ratings, &columns)?;
    if args.json {
        println!("{}", serde_json::to_string(&agreement)?);
    } else {
        print_table(&args.ratings.display().to_string(), &args.value, &agreement);
    }
    Ok(())
}

fn print_table(file: &str, value: &str, a: &Agreement) {
    println!(
        "{file}, column {value:?}: {} ratings of {} units ({} rated at least twice)",
        a.n_ratings, a.n_units, a.n_pairable_units
    );
    let mut rows = vec![
        ("Krippendorff's alpha (interval)".to_owned(), a.alpha_interval),
        ("ICC(1,1) one-way, single rating".to_owned(), a.icc1_1),
        (format!("ICC(1,k) one-way, mean of k0 = {:.3}", a.k0), a.icc1_k),
    ];
    if let Some(RaterAgreement { icc_a1, icc_c1, ccc_pairwise, pearson_pairwise, n_raters, n_complete_units, .. }) =
        &a.identified
    {
        println!("{n_raters} raters; {n_complete_units} units rated by all of them (the two-way ICCs use these)");
        rows.extend([
            ("ICC(A,1) two-way, absolute agreement".to_owned(), *icc_a1),
            ("ICC(C,1) two-way, consistency".to_owned(), *icc_c1),
            ("Lin's CCC, mean over rater pairs".to_owned(), *ccc_pairwise),
            ("Pearson r, mean over rater pairs".to_owned(), *pearson_pairwise),
        ]);
    }
    for (name, value) in rows {
        println!("  {name:<40} {value:>8.4}");
    }
}
