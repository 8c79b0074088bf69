//! Agreement of the audit, per modality and dimension: across annotators (Krippendorff's
//! alpha, the one-way and two-way ICCs, pairwise CCC and Pearson r, from `va::agreement`) and
//! each annotator against the model. The numbers are plain data; `agreement_ui` draws them.

use egui::RichText;

use crate::modality::Modality;
use crate::va::agreement::{self, Agreement, Rating};

use crate::ui::state::{AuditState, Session};
use crate::ui::widgets::theme;

/// The two VA dimensions, by name.
const DIMENSIONS: [&str; 2] = ["V", "A"];

/// One annotator against the model on one modality and dimension.
#[derive(Clone, Debug, PartialEq)]
pub struct AgainstModel {
    pub annotator: String,
    /// Points the annotator judged.
    pub n: usize,
    pub ccc: Option<f64>,
    pub pearson: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AgreementRow {
    pub modality: Modality,
    pub dimension: &'static str,
    /// Across annotators, or why it cannot be computed (e.g. one annotator only).
    pub across: Result<Agreement, String>,
    pub against_model: Vec<AgainstModel>,
}

fn dimension(va: crate::dataset::Va, d: usize) -> f64 {
    f64::from(if d == 0 { va.valence } else { va.arousal })
}

/// Every modality and dimension that any annotator judged.
pub fn agreement_rows(session: &Session, audit: &AuditState) -> Vec<AgreementRow> {
    let mut rows = Vec::new();
    for m in Modality::ALL {
        for (d, name) in DIMENSIONS.into_iter().enumerate() {
            let mut ratings = Vec::new();
            let mut against_model = Vec::new();
            for annotator in &audit.annotators {
                let Some(points) = audit.judgments.get(&annotator.id) else { continue };
                let (mut human, mut model) = (Vec::new(), Vec::new());
                // In table order, so that the figures do not depend on a hash map's order.
                let mut judged: Vec<_> = points.iter().filter(|((_, modality), _)| *modality == m).collect();
                judged.sort_by_key(|((index, _), _)| *index);
                for (&(index, _), judgment) in judged {
                    let Some(u) = session.utterance(index) else { continue };
                    ratings.push(Rating {
                        unit: u.id.clone(),
                        rater: Some(annotator.name.clone()),
                        value: dimension(judgment.va, d),
                    });
                    if let Some(va) = *u.va.get(m) {
                        human.push(dimension(judgment.va, d));
                        model.push(dimension(va, d));
                    }
                }
                if !human.is_empty() {
                    against_model.push(AgainstModel {
                        annotator: annotator.name.clone(),
                        n: human.len(),
                        ccc: agreement::ccc(&human, &model),
                        pearson: agreement::pearson(&human, &model),
                    });
                }
            }
            if ratings.is_empty() {
                continue;
            }
            rows.push(AgreementRow { modality: m, dimension: name, across: across(&ratings), against_model });
        }
    }
    rows
}

/// With raters identified; when the rater statistics cannot be had (too few units every
/// annotator judged), the statistics that do not need them.
fn across(ratings: &[Rating]) -> Result<Agreement, String> {
    agreement::agreement(ratings).or_else(|identified| {
        let anonymous: Vec<Rating> = ratings.iter().map(|r| Rating { rater: None, ..r.clone() }).collect();
        agreement::agreement(&anonymous).map_err(|_| identified.to_string())
    })
}

fn number(x: Option<f64>) -> String {
    x.filter(|x| x.is_finite()).map_or_else(|| "—".to_owned(), |x| format!("{x:.3}"))
}

pub fn agreement_ui(ui: &mut egui::Ui, session: &Session, audit: &AuditState) {
    let rows = agreement_rows(session, audit);
    if rows.is_empty() {
        ui.label("No judgments yet.");
        return;
    }
    ui.weak("Across annotators (two-way ICCs over the utterances every annotator judged):");
    egui::Grid::new("audit agreement").num_columns(11).striped(true).show(ui, |ui| {
        for header in
            ["", "units", "ratings", "α (interval)", "ICC(1,1)", "ICC(1,k)", "ICC(A,1)", "ICC(C,1)", "CCC", "r", ""]
        {
            ui.weak(header);
        }
        ui.end_row();
        for row in &rows {
            ui.label(format!("{} {}", row.modality, row.dimension));
            match &row.across {
                Ok(a) => {
                    let rater = a.identified.as_ref();
                    ui.label(a.n_units.to_string());
                    ui.label(a.n_ratings.to_string());
                    for x in [
                        Some(a.alpha_interval),
                        Some(a.icc1_1),
                        Some(a.icc1_k),
                        rater.map(|r| r.icc_a1),
                        rater.map(|r| r.icc_c1),
                        rater.map(|r| r.ccc_pairwise),
                        rater.map(|r| r.pearson_pairwise),
                    ] {
                        ui.label(number(x));
                    }
                    match agreement::small_sample_warning(a.n_pairable_units) {
                        Some(warning) => ui.colored_label(theme::WARNING_TEXT, format!("⚠ {warning}")),
                        None => ui.label(""),
                    };
                }
                Err(why) => {
                    for _ in 0..9 {
                        ui.label("");
                    }
                    ui.label(RichText::new(why).weak());
                }
            }
            ui.end_row();
        }
    });
    ui.add_space(6.0);
    ui.weak("Each annotator against the model:");
    egui::Grid::new("audit against model").num_columns(5).striped(true).show(ui, |ui| {
        for header in ["", "annotator", "points", "CCC", "r"] {
            ui.weak(header);
        }
        ui.end_row();
        for row in &rows {
            for against in &row.against_model {
                ui.label(format!("{} {}", row.modality, row.dimension));
                ui.label(&against.annotator);
                ui.label(against.n.to_string());
                ui.label(number(against.ccc));
                ui.label(number(against.pearson));
                ui.end_row();
            }
        }
    });
}
