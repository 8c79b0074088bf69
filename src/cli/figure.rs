//! `univa figure`: publication figures as SVG, PDF or PNG (by the file name), LaTeX tables,
//! and the paper's whole set.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::dataset::{Dataset, Split};
use crate::figures::plots::{self, Colouring};
use crate::figures::{self, DEFAULT_DPI, DOUBLE_COLUMN_MM, Figure, Page, SINGLE_COLUMN_MM, ThemeName, data, tables};
use crate::fsutil::write_atomic;
use crate::va::PriorRule;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub kind: Kind,
}

/// Size, resolution and theme of a figure.
#[derive(Debug, clap::Args)]
pub struct PageArgs {
    /// Width in millimetres (single column 88, double 180); default depends on the figure.
    #[arg(long)]
    pub width_mm: Option<f64>,
    /// Height in millimetres; default depends on the figure.
    #[arg(long)]
    pub height_mm: Option<f64>,
    /// Pixels per inch of a PNG and of the raster layer of dense maps inside SVG/PDF.
    #[arg(long, default_value_t = DEFAULT_DPI)]
    pub dpi: f64,
    #[arg(long, value_enum, default_value_t = ThemeName::Print)]
    pub theme: ThemeName,
    /// File to write: .svg, .pdf or .png.
    #[arg(long)]
    pub out: PathBuf,
}

impl PageArgs {
    fn page(&self, width_mm: f64, height_mm: f64) -> anyhow::Result<Page> {
        Ok(Page::new(self.width_mm.unwrap_or(width_mm), self.height_mm.unwrap_or(height_mm), self.theme, self.dpi)?)
    }

    fn save(&self, figure: &Figure) -> anyhow::Result<()> {
        figures::save(figure, &self.out).with_context(|| format!("could not write {}", self.out.display()))?;
        println!("wrote {} ({:.0} × {:.0} mm)", self.out.display(), figure.page.width_mm, figure.page.height_mm);
        Ok(())
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum Kind {
    /// The VA plane of one utterance: modality points, label anchors, quadrants.
    VaPlane {
        #[arg(long)]
        dataset: PathBuf,
        #[arg(long)]
        utterance: String,
        /// Draw every utterance's points faintly behind.
        #[arg(long)]
        cloud: bool,
        /// Show this annotator's audit: the model's point as a ghost, an arrow to the audited one.
        #[arg(long)]
        annotator: Option<String>,
        /// The audit store, if not the dataset's own: a file, or a server (postgres://…).
        #[arg(long, requires = "annotator")]
        store: Option<crate::store::StoreAddress>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// The prior M beside the label co-occurrence, on one scale (paper Fig. 4).
    Correlation {
        #[arg(long)]
        dataset: PathBuf,
        #[arg(long, value_enum, default_value_t = PriorRule::default())]
        rule: PriorRule,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Embedding map(s) from map CSVs (`univa project`) or runs; two give the side-by-side pair.
    Embedding {
        /// Map CSV (id,modality,x,y); give it twice for a pair.
        #[arg(long, conflicts_with = "run")]
        map: Vec<PathBuf>,
        /// Run folder(s) to project (UMAP) instead; give two for the with/without VA-CL pair.
        #[arg(long)]
        run: Vec<PathBuf>,
        /// The dataset (needed for runs and for every colouring but by modality).
        #[arg(long)]
        dataset: Option<PathBuf>,
        #[arg(long, default_value = "test")]
        split: Split,
        #[arg(long, value_enum, default_value_t = Colouring::Modality)]
        colour: Colouring,
        /// Title of each map, in order (default: the file or folder name).
        #[arg(long)]
        title: Vec<String>,
        #[arg(long, default_value_t = 1111)]
        seed: u64,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Metrics against the swept field of the runs under a sweep folder (paper Fig. 5).
    Sweep {
        /// Sweep folder (`<field>=<value>/` run folders).
        #[arg(long)]
        dir: PathBuf,
        /// Dataset to evaluate on instead of the one each run records.
        #[arg(long)]
        dataset: Option<PathBuf>,
        #[arg(long, default_value = "test")]
        split: Split,
        #[command(flatten)]
        page: PageArgs,
    },
    /// A run's metrics against the decision threshold ζ.
    ThresholdSweep {
        #[arg(long)]
        run: PathBuf,
        #[arg(long)]
        dataset: PathBuf,
        #[arg(long, default_value = "test")]
        split: Split,
        #[command(flatten)]
        page: PageArgs,
    },
    /// A run's training curves from its events.jsonl.
    Curves {
        #[arg(long)]
        run: PathBuf,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Utterances × systems (paper Table 6) as a figure, or LaTeX with --out FILE.tex.
    CaseTable {
        #[arg(long)]
        dataset: PathBuf,
        /// Utterance id (repeat for more rows).
        #[arg(long, required = true)]
        utterance: Vec<String>,
        /// Run folder, trained or imported predictions (repeat for more systems).
        #[arg(long, required = true)]
        system: Vec<PathBuf>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// The ablation table of `univa runs table` as LaTeX (--out FILE.tex).
    AblationTable {
        /// Run folders; a folder that is not a run stands for the runs under it.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        #[arg(long)]
        dataset: Option<PathBuf>,
        #[arg(long, default_value = "test")]
        split: Split,
        /// LaTeX file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// One utterance's case card as a page (or Markdown with --out FILE.md).
    CaseCard {
        #[arg(long)]
        dataset: PathBuf,
        #[arg(long)]
        utterance: String,
        /// Our trained run (its probabilities are drawn).
        #[arg(long)]
        run: PathBuf,
        /// Other systems' run folders (imported predictions), shown below.
        #[arg(long)]
        system: Vec<PathBuf>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// The paper's figure set into a folder, with a README listing what each file shows.
    Paper {
        #[arg(long)]
        run: PathBuf,
        #[arg(long)]
        dataset: PathBuf,
        /// A second run (e.g. without VA-CL) for the map pair, case and ablation tables.
        #[arg(long)]
        compare: Option<PathBuf>,
        /// A sweep folder for the sweep figure.
        #[arg(long)]
        sweep: Option<PathBuf>,
        #[arg(long, default_value = "test")]
        split: Split,
        /// Utterance of the VA plane and case card (default: the split's first with full VA).
        #[arg(long)]
        utterance: Option<String>,
        #[arg(long, default_value_t = DEFAULT_DPI)]
        dpi: f64,
        #[arg(long, value_enum, default_value_t = ThemeName::Print)]
        theme: ThemeName,
        #[arg(long, default_value_t = 1111)]
        seed: u64,
        /// Folder to write into.
        #[arg(long)]
        out: PathBuf,
    },
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

fn write_text(path: &Path, text: &str) -> anyhow::Result<()> {
    write_atomic(path, text.as_bytes()).with_context(|| format!("could not write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// A map's default title: a CSV's name without `.csv`, a run folder's whole name (`delta=0.1`).
fn name_of(path: &Path) -> String {
    let name = if path.is_dir() { path.file_name() } else { path.file_stem() };
    name.map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned())
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.kind {
        Kind::VaPlane { dataset, utterance, cloud, annotator, store, page } => {
            let dataset = Dataset::open_lazy(dataset)?;
            let mut data = data::va_plane(&dataset, utterance, *cloud)?;
            if let Some(annotator) = annotator {
                data = data::audit_va_plane(&dataset, data, utterance, annotator, store.as_ref())?;
            }
            page.save(&plots::va_plane(&page.page(SINGLE_COLUMN_MM, 100.0)?, &data)?)
        }
        Kind::Correlation { dataset, rule, page } => {
            let dataset = Dataset::open_lazy(dataset)?;
            let data = data::correlation(&dataset, *rule)?;
            page.save(&plots::correlation(&page.page(DOUBLE_COLUMN_MM, 85.0)?, &data)?)
        }
        Kind::Embedding { map, run, dataset, split, colour, title, seed, page } => {
            let opened = dataset.as_ref().map(Dataset::open).transpose()?;
            let mut maps = Vec::new();
            if !map.is_empty() {
                for (i, path) in map.iter().enumerate() {
                    maps.push((title.get(i).cloned().unwrap_or_else(|| name_of(path)), data::read_map_csv(path)?));
                }
            } else {
                let Some(dataset) = &opened else { bail!("a map of a run needs --dataset") };
                if run.is_empty() {
                    bail!("give --map CSV (from `univa project`) or --run RUN");
                }
                for (i, path) in run.iter().enumerate() {
                    let rows = data::map_of_run(path, dataset, *split, *seed)
                        .with_context(|| format!("could not map run {}", path.display()))?;
                    maps.push((title.get(i).cloned().unwrap_or_else(|| name_of(path)), rows));
                }
            }
            let data = data::embedding(&maps, opened.as_ref(), *colour)?;
            let width = if maps.len() > 1 { DOUBLE_COLUMN_MM } else { SINGLE_COLUMN_MM };
            page.save(&plots::embedding(&page.page(width, 90.0)?, &data)?)
        }
        Kind::Sweep { dir, dataset, split, page } => {
            let panels = data::sweep(dir, dataset.as_deref(), *split)?;
            page.save(&plots::lines(&page.page(SINGLE_COLUMN_MM, 70.0 * panels.len() as f64)?, &panels, 1)?)
        }
        Kind::ThresholdSweep { run, dataset, split, page } => {
            let dataset = Dataset::open(dataset)?;
            let panel = data::threshold_sweep(run, &dataset, *split)?;
            page.save(&plots::lines(&page.page(SINGLE_COLUMN_MM, 70.0)?, &[panel], 1)?)
        }
        Kind::Curves { run, page } => {
            let panels = data::curves(run)?;
            page.save(&plots::lines(&page.page(DOUBLE_COLUMN_MM, 110.0)?, &panels, 3)?)
        }
        Kind::CaseTable { dataset, utterance, system, page } => {
            let dataset = Dataset::open(dataset)?;
            let indices =
                utterance.iter().map(|id| data::utterance_index(&dataset, id)).collect::<Result<Vec<_>, _>>()?;
            let predictions = data::predictions(system, &dataset, &indices)?;
            let table = tables::CaseTable::new(&dataset, &indices, &predictions)?;
            if has_extension(&page.out, "tex") {
                return write_text(&page.out, &tables::case_table_latex(&table));
            }
            let width = page.width_mm.unwrap_or(DOUBLE_COLUMN_MM);
            let height = tables::case_table_height_mm(&table, width);
            page.save(&tables::case_table(&page.page(DOUBLE_COLUMN_MM, height)?, &table)?)
        }
        Kind::AblationTable { runs, dataset, split, out } => {
            if !has_extension(out, "tex") {
                bail!("{}: the ablation table is written as LaTeX; name a .tex file", out.display());
            }
            let named = super::runs::expand(runs)?;
            let table = data::ablation(&named, dataset.as_deref(), *split)?;
            write_text(out, &tables::ablation_latex(&table))
        }
        Kind::CaseCard { dataset, utterance, run, system, page } => {
            let dataset = Dataset::open(dataset)?;
            data::require_model(run)?;
            let index = data::utterance_index(&dataset, utterance)?;
            let mut systems = vec![run.clone()];
            systems.extend(system.iter().cloned());
            let card = data::case_card(&dataset, index, &systems)?;
            if has_extension(&page.out, "md") {
                return write_text(&page.out, &tables::case_card_markdown(&card));
            }
            page.save(&tables::case_card(&page.page(DOUBLE_COLUMN_MM, 75.0)?, &card)?)
        }
        Kind::Paper { run, dataset, compare, sweep, split, utterance, dpi, theme, seed, out } => {
            let request = figures::paper::PaperRequest {
                run: run.clone(),
                dataset: dataset.clone(),
                compare: compare.clone(),
                sweep: sweep.clone(),
                split: *split,
                utterance: utterance.clone(),
                theme: *theme,
                dpi: *dpi,
                seed: *seed,
            };
            let (entries, skipped) = figures::paper::paper(&request, out)?;
            for entry in &entries {
                println!("{}", entry.file);
            }
            for reason in &skipped {
                eprintln!("univa: not drawn: {reason}");
            }
            println!("wrote {} figures and tables and README.md to {}", entries.len(), out.display());
            Ok(())
        }
    }
}
