//! The run browser's panes: every run folder under the runs folder (and those added by hand), their
//! metrics side by side, the config diff of two picked runs, the ablation table with the best
//! value of each metric in strong, highlighted text, and a sweep plot of a metric against a swept field.

use egui::RichText;
use egui_plot::{Legend, Line, Plot, Points};

use crate::dataset::Split;
use crate::metrics::Metrics;
use crate::runs::{self, AblationTable, FlatConfig, MetricKey, Run, display_value};

use super::PaneContext;
use crate::ui::state::{Command, MetricsStatus, RunEntry, RunsCommand, RunsState, ViewSettings};
use crate::ui::widgets::{self, theme};

fn send(commands: &mut Vec<Command>, command: RunsCommand) {
    commands.push(Command::Runs(command));
}

/// The Runs pane: the runs folder's toolbar and every run listed, with its metrics.
pub fn runs_pane_ui(ui: &mut egui::Ui, cx: &PaneContext<'_>, commands: &mut Vec<Command>) {
    toolbar_ui(ui, cx.runs, cx.settings, commands);
    ui.separator();
    runs_list_ui(ui, cx.runs, cx.settings, commands);
}

/// The ablation table of the listed runs on the chosen split.
pub fn runs_table_pane_ui(ui: &mut egui::Ui, cx: &PaneContext<'_>) {
    egui::ScrollArea::both()
        .id_salt("runs_table")
        .auto_shrink([false, false])
        .show(ui, |ui| table_ui(ui, cx.runs, cx.settings.runs_browser.split));
}

/// The two picked runs' metrics and configurations side by side.
pub fn config_diff_pane_ui(ui: &mut egui::Ui, cx: &PaneContext<'_>) {
    egui::ScrollArea::both().id_salt("runs_compare").auto_shrink([false, false]).show(ui, |ui| compare_ui(ui, cx.runs));
}

/// A metric of the listed runs against a swept field.
pub fn runs_sweep_pane_ui(ui: &mut egui::Ui, cx: &PaneContext<'_>, commands: &mut Vec<Command>) {
    sweep_ui(ui, cx.runs, cx.settings, commands);
}

fn toolbar_ui(ui: &mut egui::Ui, runs: &RunsState, settings: &ViewSettings, commands: &mut Vec<Command>) {
    ui.horizontal_wrapped(|ui| {
        ui.label("Runs folder");
        ui.monospace(settings.runs_dir.display().to_string());
        if ui.button("Choose…").clicked() {
            send(commands, RunsCommand::ChooseRunsDirDialog);
        }
        if ui.button("Rescan").clicked() {
            send(commands, RunsCommand::Rescan);
        }
        if ui.button("Add run folder…").clicked() {
            send(commands, RunsCommand::AddRunFolderDialog);
        }
        ui.separator();
        let split = settings.runs_browser.split;
        let mut chosen = split;
        widgets::labelled_combo(ui, "Metrics on", split.name(), |ui| {
            for s in Split::ALL {
                ui.selectable_value(&mut chosen, s, s.name());
            }
        });
        if chosen != split {
            send(commands, RunsCommand::SetSplit(chosen));
        }
        if runs.computing() {
            ui.spinner();
            ui.weak("computing metrics…");
        }
    });
    for folder in &settings.runs_browser.added {
        ui.horizontal(|ui| {
            ui.weak("added");
            ui.monospace(folder.display().to_string());
            if ui.small_button("Remove").clicked() {
                send(commands, RunsCommand::RemoveRunFolder(folder.clone()));
            }
        });
    }
}

fn runs_list_ui(ui: &mut egui::Ui, runs: &RunsState, settings: &ViewSettings, commands: &mut Vec<Command>) {
    ui.label(format!("{} · click names to compare two", count(runs.entries.len(), "run")));
    if runs.entries.is_empty() {
        ui.add(
            egui::Label::new(format!(
                "No run folders (folders with a {}) under {}. Train one (`univa train --out {}/NAME`), import \
                 another system's predictions (`univa runs import-predictions`), or add a run folder.",
                runs::CONFIG_FILE,
                settings.runs_dir.display(),
                settings.runs_dir.display()
            ))
            .wrap(),
        );
        return;
    }
    egui::ScrollArea::vertical().id_salt("runs_list_rows").auto_shrink([false, false]).show(ui, |ui| {
        for entry in &runs.entries {
            run_row_ui(ui, runs, settings, entry, commands);
            ui.separator();
        }
    });
}

fn run_row_ui(
    ui: &mut egui::Ui,
    runs: &RunsState,
    settings: &ViewSettings,
    entry: &RunEntry,
    commands: &mut Vec<Command>,
) {
    let picked = runs.picked.iter().position(|p| p == &entry.dir);
    ui.horizontal(|ui| {
        let name = match picked {
            Some(0) => format!("A · {}", entry.name),
            Some(_) => format!("B · {}", entry.name),
            None => entry.name.clone(),
        };
        let response = ui.selectable_label(picked.is_some(), name).on_hover_text(entry.dir.display().to_string());
        if response.clicked() {
            send(commands, RunsCommand::TogglePicked(entry.dir.clone()));
        }
    });
    let run = match &entry.run {
        Ok(run) => run,
        Err(error) => {
            ui.colored_label(theme::ERROR_TEXT, error);
            return;
        }
    };
    ui.weak(format!("{} · {} · {}", run.system(), run.dataset_name(), run.status()));
    match runs.status(&entry.dir) {
        Some(MetricsStatus::Done(m)) => {
            ui.label(format!(
                "Acc {:.3}  HL {:.3}  miF1 {:.3}  maF1 {:.3}",
                m.acc, m.hamming_loss, m.micro_f1, m.macro_f1
            ));
        }
        Some(MetricsStatus::Pending) => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.weak("computing…");
            });
        }
        Some(MetricsStatus::Failed(error)) => {
            ui.add(egui::Label::new(RichText::new(error).color(theme::ERROR_TEXT)).wrap());
        }
        None => {}
    }
    ui.horizontal(|ui| {
        if ui.button("Open in Case study").clicked() {
            send(commands, RunsCommand::OpenInWorkbench(entry.dir.clone()));
        }
        if run.is_imported() {
            let mut shown = settings.runs_browser.in_case_card.contains(&entry.dir);
            if ui.checkbox(&mut shown, "Compare in case card").changed() {
                send(commands, RunsCommand::SetInCaseCard(entry.dir.clone(), shown));
            }
        }
    });
}

/// The ablation table of the finished runs that have metrics.
fn table_ui(ui: &mut egui::Ui, runs: &RunsState, split: Split) {
    let finished = runs.finished();
    let left_out = runs.entries.len() - finished.len();
    if finished.is_empty() {
        ui.label("No finished run has metrics yet.");
        return;
    }
    let table = AblationTable::new(
        finished.iter().map(|(entry, m)| (entry.name.clone(), &entry.config, (*m).clone())).collect(),
    );
    ui.horizontal_wrapped(|ui| {
        ui.label(format!(
            "{} on the {split} split; the best value per metric is highlighted (HL: lowest).",
            count(table.rows.len(), "run")
        ));
        if left_out > 0 {
            ui.weak(format!("{left_out} not finished or without metrics (see the list)."));
        }
        if ui.button("Copy as JSON").on_hover_text("The rows `univa runs table --json` prints").clicked() {
            ui.ctx().copy_text(table.to_json().to_string());
        }
    });
    ui.add_space(4.0);
    let best: Vec<Vec<bool>> = MetricKey::ALL.iter().map(|&m| table.best(m)).collect();
    egui::Grid::new("ablation_table").striped(true).spacing([18.0, 6.0]).show(ui, |ui| {
        ui.strong("run");
        for field in &table.fields {
            ui.strong(field);
        }
        for metric in MetricKey::ALL {
            ui.strong(metric.heading());
        }
        ui.end_row();
        for (r, row) in table.rows.iter().enumerate() {
            ui.label(&row.run);
            for value in &row.fields {
                ui.label(value.as_ref().map_or_else(|| "—".to_owned(), display_value));
            }
            for (m, metric) in MetricKey::ALL.iter().enumerate() {
                let text = format!("{:.4}", metric.value(&row.metrics));
                let is_best = best[m][r];
                let rich = if is_best {
                    RichText::new(&text).strong().background_color(theme::BEST_VALUE_BG)
                } else {
                    RichText::new(&text)
                };
                let name = format!("{} {} {text}{}", row.run, metric.heading(), if is_best { " best" } else { "" });
                ui.label(rich).widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, &name));
            }
            ui.end_row();
        }
    });
}

fn picked_run(runs: &RunsState, index: usize) -> Option<(&RunEntry, &Run)> {
    let entry = runs.entry(runs.picked.get(index)?)?;
    Some((entry, entry.run.as_ref().ok()?))
}

/// The two picked runs: metrics side by side (with per-label F1) and their config diff.
fn compare_ui(ui: &mut egui::Ui, runs: &RunsState) {
    let (Some((a, _)), Some((b, _))) = (picked_run(runs, 0), picked_run(runs, 1)) else {
        ui.label("Pick two runs in the list (click their names) to compare their metrics and configurations.");
        if let Some((a, _)) = picked_run(runs, 0) {
            ui.add_space(6.0);
            ui.strong(format!("A · {}", a.name));
            config_grid_ui(ui, "config_a", &a.config);
        }
        return;
    };
    ui.strong(format!("A · {}", a.name));
    ui.strong(format!("B · {}", b.name));
    ui.add_space(6.0);
    match (runs.done(&a.dir), runs.done(&b.dir)) {
        (Some(ma), Some(mb)) => metrics_side_by_side_ui(ui, ma, mb),
        _ => {
            ui.weak("Metrics appear here once both runs have them (see the list).");
        }
    }
    ui.add_space(10.0);
    ui.strong("Config diff");
    let changes = runs::diff(&a.config, &b.config);
    if changes.is_empty() {
        ui.label("The two configurations are the same.");
        return;
    }
    egui::Grid::new("config_diff").striped(true).spacing([18.0, 4.0]).show(ui, |ui| {
        for header in ["field", "A", "B"] {
            ui.strong(header);
        }
        ui.end_row();
        let shown = |v: &Option<serde_json::Value>| v.as_ref().map_or_else(|| "—".to_owned(), display_value);
        for change in &changes {
            ui.monospace(&change.key);
            ui.label(shown(&change.a));
            ui.label(shown(&change.b));
            ui.end_row();
        }
    });
}

fn metrics_side_by_side_ui(ui: &mut egui::Ui, a: &Metrics, b: &Metrics) {
    egui::Grid::new("metrics_side_by_side").striped(true).spacing([18.0, 4.0]).show(ui, |ui| {
        for header in ["metric", "A", "B", "B − A"] {
            ui.strong(header);
        }
        ui.end_row();
        for metric in MetricKey::ALL {
            let (va, vb) = (metric.value(a), metric.value(b));
            ui.label(metric.heading());
            ui.label(format!("{va:.4}"));
            ui.label(format!("{vb:.4}"));
            ui.label(format!("{:+.4}", vb - va));
            ui.end_row();
        }
        for (la, lb) in a.per_label.iter().zip(&b.per_label) {
            ui.label(format!("F1 {}", la.label));
            ui.label(format!("{:.4}", la.f1));
            ui.label(format!("{:.4}", lb.f1));
            ui.label(format!("{:+.4}", lb.f1 - la.f1));
            ui.end_row();
        }
    });
}

fn config_grid_ui(ui: &mut egui::Ui, id: &str, config: &FlatConfig) {
    egui::Grid::new(id).striped(true).spacing([18.0, 2.0]).show(ui, |ui| {
        for (key, value) in config {
            ui.monospace(key);
            ui.label(display_value(value));
            ui.end_row();
        }
    });
}

/// A metric against a swept numeric field, for finished runs that differ in that field alone.
fn sweep_ui(ui: &mut egui::Ui, runs: &RunsState, settings: &ViewSettings, commands: &mut Vec<Command>) {
    let finished = runs.finished();
    let configs: Vec<&FlatConfig> = finished.iter().map(|(e, _)| &e.config).collect();
    let fields = runs::swept_fields(&configs);
    let Some(first) = fields.first() else {
        ui.label(
            "No sweep among the finished runs: a sweep is two or more runs that differ in one numeric field only.",
        );
        return;
    };
    let chosen = settings.runs_browser.sweep_field.as_ref().filter(|f| fields.contains(*f)).unwrap_or(first);
    let metric = settings.runs_browser.sweep_metric;
    ui.horizontal(|ui| {
        let label = ui.label("Field");
        egui::ComboBox::from_id_salt("sweep_field")
            .selected_text(chosen.as_str())
            .show_ui(ui, |ui| {
                for field in &fields {
                    if ui.selectable_label(field == chosen, field.as_str()).clicked() {
                        send(commands, RunsCommand::SetSweepField(field.clone()));
                    }
                }
            })
            .response
            .labelled_by(label.id);
        let label = ui.label("Metric");
        egui::ComboBox::from_id_salt("sweep_metric")
            .selected_text(metric.heading())
            .show_ui(ui, |ui| {
                for m in MetricKey::ALL {
                    if ui.selectable_label(m == metric, m.heading()).clicked() {
                        send(commands, RunsCommand::SetSweepMetric(m));
                    }
                }
            })
            .response
            .labelled_by(label.id);
    });
    let series = runs::sweep_series(&configs, chosen);
    let points_of = |points: &[(f64, usize)]| -> Vec<[f64; 2]> {
        points.iter().map(|&(x, i)| [x, metric.value(finished[i].1)]).collect()
    };
    let mut plot = Plot::new("runs_sweep")
        .height(theme::SWEEP_PLOT_HEIGHT)
        .set_margin_fraction(egui::vec2(0.08, 0.15))
        .x_axis_label(chosen.as_str())
        .y_axis_label(metric.heading());
    // One group needs no legend; several are told apart by it.
    if series.len() > 1 {
        plot = plot.legend(Legend::default());
    }
    plot.show(ui, |plot| {
        for (k, points) in series.iter().enumerate() {
            let name = format!("group {}", k + 1);
            let color = theme::label_color(k);
            plot.line(Line::new(name.clone(), points_of(points)).color(color));
            plot.points(Points::new(name, points_of(points)).radius(4.0).color(color));
        }
    });
    egui::Grid::new("sweep_points").striped(true).spacing([18.0, 2.0]).show(ui, |ui| {
        if series.len() > 1 {
            ui.strong("group");
        }
        for header in [chosen.as_str(), metric.heading(), "run"] {
            ui.strong(header);
        }
        ui.end_row();
        for (k, points) in series.iter().enumerate() {
            for &(x, i) in points {
                if series.len() > 1 {
                    ui.label((k + 1).to_string());
                }
                ui.label(format!("{x}"));
                ui.label(format!("{:.4}", metric.value(finished[i].1)));
                ui.label(&finished[i].0.name);
                ui.end_row();
            }
        }
    });
}

/// `1 run`, `2 runs`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}
