//! `univa figure paper`: the paper's figure set for a run on a dataset, written into a folder
//! with a README that says what each file shows. Everything is drawn in memory first, so a
//! failure writes nothing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::dataset::{Dataset, Split};
use crate::runs::Run;
use crate::va::PriorRule;

use super::plots::{self, Colouring};
use super::{DOUBLE_COLUMN_MM, Figure, FigureError, Format, Page, SINGLE_COLUMN_MM, ThemeName, data, tables};

/// What to draw the set from.
#[derive(Clone, Debug)]
pub struct PaperRequest {
    pub run: PathBuf,
    pub dataset: PathBuf,
    /// A second run for the with/without VA-CL pair, the case table and the ablation table.
    pub compare: Option<PathBuf>,
    /// A sweep folder (runs differing in one numeric field).
    pub sweep: Option<PathBuf>,
    pub split: Split,
    /// The utterance of the VA plane and the case card; default: the split's first with VA in
    /// every modality and a gold label.
    pub utterance: Option<String>,
    pub theme: ThemeName,
    pub dpi: f64,
    pub seed: u64,
}

/// One file of the set and what it shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub file: String,
    pub shows: String,
}

enum Output {
    Figure(Figure),
    Text(String),
}

/// Draws the set and writes it into `out` (created if missing): PDF and PNG of each figure,
/// LaTeX tables, the case card's Markdown, and README.md. Returns the entries of the README,
/// and figures left out with the reason (a run trained without events has no curves).
pub fn paper(request: &PaperRequest, out: &Path) -> Result<(Vec<Entry>, Vec<String>), FigureError> {
    let dataset = Dataset::open(&request.dataset)?;
    let split_indices = dataset.split_indices(request.split);
    if split_indices.is_empty() {
        return Err(FigureError::Empty(format!(
            "{}: the {} split has no utterances",
            request.dataset.display(),
            request.split.name()
        )));
    }
    data::require_model(&request.run)?;
    let page = |w: f64, h: f64| Page::new(w, h, request.theme, request.dpi);
    let mut outputs: Vec<(String, String, Output)> = Vec::new();
    let mut skipped = Vec::new();
    let run_name = run_title(&request.run);

    let correlation = data::correlation(&dataset, PriorRule::default())?;
    outputs.push((
        "correlation".into(),
        "Prior M (cosine of the labels' VA, Eq. 8; equal to `univa va-prior --json`) beside the labels' co-occurrence P(column | row), one colour scale (paper Fig. 4).".into(),
        Output::Figure(plots::correlation(&page(DOUBLE_COLUMN_MM, 85.0)?, &correlation)?),
    ));

    let index = match &request.utterance {
        Some(id) => data::utterance_index(&dataset, id)?,
        None => split_indices
            .iter()
            .copied()
            .find(|&i| {
                dataset.utterances[i].va.iter().all(|(_, v)| v.is_some()) && !dataset.utterances[i].labels.is_empty()
            })
            .unwrap_or(split_indices[0]),
    };
    let id = dataset.utterances[index].id.clone();
    let plane = data::va_plane(&dataset, &id, true)?;
    outputs.push((
        format!("va-plane-{id}"),
        format!("VA plane of utterance {id}: each modality's point, the label anchors (gold filled), quadrants, every utterance's points faintly behind."),
        Output::Figure(plots::va_plane(&page(SINGLE_COLUMN_MM, 100.0)?, &plane)?),
    ));

    let mut maps = vec![(run_name.clone(), data::map_of_run(&request.run, &dataset, request.split, request.seed)?)];
    if let Some(compare) = &request.compare {
        maps.push((run_title(compare), data::map_of_run(compare, &dataset, request.split, request.seed)?));
    }
    for (colouring, what) in [(Colouring::Modality, "modality"), (Colouring::Label, "first gold label")] {
        let embedding = data::embedding(&maps, Some(&dataset), colouring)?;
        let width = if maps.len() > 1 { DOUBLE_COLUMN_MM } else { SINGLE_COLUMN_MM };
        outputs.push((
            format!("embedding-by-{}", if colouring == Colouring::Modality { "modality" } else { "label" }),
            format!(
                "UMAP of the unimodal representations on the {} split (seed {}), coloured by {what}{} (paper Fig. 3).",
                request.split.name(),
                request.seed,
                if maps.len() > 1 { ", the two runs side by side" } else { "" }
            ),
            Output::Figure(plots::embedding(&page(width, 90.0)?, &embedding)?),
        ));
    }

    let threshold = data::threshold_sweep(&request.run, &dataset, request.split)?;
    outputs.push((
        "threshold-sweep".into(),
        format!("Acc, micro-F1, macro-F1 and Hamming loss of {run_name} against the threshold ζ on the {} split; the dashed line is the run's ζ.", request.split.name()),
        Output::Figure(plots::lines(&page(SINGLE_COLUMN_MM, 70.0)?, &[threshold], 1)?),
    ));

    match data::curves(&request.run) {
        Ok(panels) => outputs.push((
            "curves".into(),
            "Training curves from the run's events.jsonl: loss, KL, η, VA-CL per modality per step; validation metrics per epoch.".into(),
            Output::Figure(plots::lines(&page(DOUBLE_COLUMN_MM, 110.0)?, &panels, 3)?),
        )),
        Err(FigureError::Empty(reason)) => skipped.push(format!("curves: {reason}")),
        Err(e) => return Err(e),
    }

    if let Some(sweep) = &request.sweep {
        let panels = data::sweep(sweep, Some(&request.dataset), request.split)?;
        outputs.push((
            "sweep".into(),
            format!(
                "Metrics on the {} split against the field swept by the runs under {} (paper Fig. 5).",
                request.split.name(),
                sweep.display()
            ),
            Output::Figure(plots::lines(&page(SINGLE_COLUMN_MM, 70.0)?, &panels, 1)?),
        ));
    }

    let mut systems = vec![request.run.clone()];
    systems.extend(request.compare.clone());
    let case_indices: Vec<usize> =
        std::iter::once(index).chain(split_indices.iter().copied().filter(|&i| i != index)).take(4).collect();
    let predictions = data::predictions(&systems, &dataset, &case_indices)?;
    let case_table = tables::CaseTable::new(&dataset, &case_indices, &predictions)?;
    outputs.push((
        "case-table".into(),
        "Case study (paper Table 6): utterances × systems, gold and predicted labels with their outcome (exact, partial or miss), VA per modality.".into(),
        Output::Figure(tables::case_table(
            &page(DOUBLE_COLUMN_MM, tables::case_table_height_mm(&case_table, DOUBLE_COLUMN_MM))?,
            &case_table,
        )?),
    ));
    outputs.push((
        "case-table.tex".into(),
        "The case table as LaTeX (booktabs).".into(),
        Output::Text(tables::case_table_latex(&case_table)),
    ));

    let card = data::case_card(&dataset, index, &systems)?;
    outputs.push((
        format!("case-card-{id}"),
        format!("Case card of {id}: a frame of the clip, the transcript, the VA plane, probabilities with the threshold and each label's margin, gold vs predicted."),
        Output::Figure(tables::case_card(&page(DOUBLE_COLUMN_MM, 75.0)?, &card)?),
    ));
    outputs.push((
        format!("case-card-{id}.md"),
        "The case card as Markdown, with every label's probability.".into(),
        Output::Text(tables::case_card_markdown(&card)),
    ));

    let mut named = vec![(run_name.clone(), Run::load(&request.run)?)];
    if let Some(compare) = &request.compare {
        named.push((run_title(compare), Run::load(compare)?));
    }
    let ablation = data::ablation(&named, Some(&request.dataset), request.split)?;
    outputs.push((
        "ablation-table.tex".into(),
        format!(
            "Ablation table (`univa runs table`) on the {} split as LaTeX, best values in bold.",
            request.split.name()
        ),
        Output::Text(tables::ablation_latex(&ablation)),
    ));

    // everything is drawn: now write
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut entries = Vec::new();
    for (name, shows, output) in outputs {
        match output {
            Output::Figure(figure) => {
                for (format, ext) in [(Format::Pdf, "pdf"), (Format::Png, "png")] {
                    files.push((out.join(format!("{name}.{ext}")), super::render(&figure, format)?));
                }
                entries.push(Entry {
                    file: format!("{name}.pdf, {name}.png"),
                    shows: format!("{shows} {:.0} × {:.0} mm.", figure.page.width_mm, figure.page.height_mm),
                });
            }
            Output::Text(text) => {
                files.push((out.join(&name), text.into_bytes()));
                entries.push(Entry { file: name, shows });
            }
        }
    }
    files.push((out.join("README.md"), readme(request, &entries, &skipped).into_bytes()));
    std::fs::create_dir_all(out).map_err(|source| FigureError::Io { path: out.to_owned(), source })?;
    for (path, bytes) in files {
        crate::fsutil::write_atomic(&path, &bytes).map_err(|source| FigureError::Io { path, source })?;
    }
    Ok((entries, skipped))
}

fn run_title(run: &Path) -> String {
    run.file_name().map_or_else(|| run.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn readme(request: &PaperRequest, entries: &[Entry], skipped: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Figures of {}\n", run_title(&request.run));
    let _ = writeln!(
        out,
        "Written by `univa figure paper` from run `{}` on dataset `{}` ({} split{}{}), theme {:?}, PNG at {} DPI. \
         Text is set in DejaVu Sans, embedded in the PDFs.\n",
        request.run.display(),
        request.dataset.display(),
        request.split.name(),
        request.compare.as_ref().map(|c| format!(", compared with `{}`", c.display())).unwrap_or_default(),
        request.sweep.as_ref().map(|s| format!(", sweep `{}`", s.display())).unwrap_or_default(),
        request.theme,
        request.dpi
    );
    let _ = writeln!(out, "| file | shows |\n|---|---|");
    for entry in entries {
        let _ = writeln!(out, "| {} | {} |", entry.file, entry.shows.replace('|', "\\|"));
    }
    if !skipped.is_empty() {
        let _ = writeln!(out, "\nNot drawn:\n");
        for reason in skipped {
            let _ = writeln!(out, "- {reason}");
        }
    }
    out
}
