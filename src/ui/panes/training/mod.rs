//! The Training panes: a launch form (dataset, preset, every configuration field, device, an
//! optional sweep grid) checked before launch, the job list with cancel and resume, and the
//! selected job's live curves. Reads [`TrainingState`] and sends [`TrainingCommand`]s.

use egui_plot::{Legend, Line, Plot, Points};

use crate::jobs::devices::{self, cuda_built};
use crate::jobs::{Ablation, Curves, Job, JobSpec, JobStatus, SweepField, check};
use crate::modality::Modality;
use crate::model::Preset;
use crate::store::{Consensus, OverlaySource};

mod target;

use super::{PaneContext, export_button_ui};
use crate::ui::state::{Command, FigureRequest, TrainingCommand, TrainingForm, TrainingPick, TrainingState, VaSource};
use crate::ui::widgets::theme;

const PRESETS: [(Preset, &str); 5] = [
    (Preset::Small, "small (CPU-sized)"),
    (Preset::MoseiRoberta, "MOSEI RoBERTa"),
    (Preset::MoseiGlove, "MOSEI GloVe"),
    (Preset::M3edRoberta, "M3ED RoBERTa"),
    (Preset::M3edGlove, "M3ED GloVe"),
];

/// The launch form: the problems and the launch button first, in sight before any scrolling.
pub fn form_pane_ui(ui: &mut egui::Ui, cx: &PaneContext<'_>, commands: &mut Vec<Command>) {
    egui::ScrollArea::vertical().id_salt("training_form_scroll").auto_shrink([false, false]).show(ui, |ui| {
        launch_ui(ui, cx.training, commands);
        ui.separator();
        form_ui(ui, cx.training, cx.runs_dir(), commands);
    });
}

/// The job list with cancel, resume and forget.
pub fn jobs_pane_ui(ui: &mut egui::Ui, cx: &PaneContext<'_>, commands: &mut Vec<Command>) {
    jobs_ui(ui, cx.training, commands);
}

/// The selected job's live curves.
pub fn curves_pane_ui(ui: &mut egui::Ui, cx: &PaneContext<'_>, commands: &mut Vec<Command>) {
    let state = cx.training;
    match state.selected.and_then(|id| state.manager.as_ref()?.job(id)) {
        Some(job) => {
            egui::ScrollArea::vertical()
                .id_salt("training_curves")
                .auto_shrink([false, false])
                .show(ui, |ui| job_ui(ui, job, commands));
        }
        None => {
            ui.label("Launch a run, or pick a job from the list, to see its curves.");
        }
    }
}

fn row(ui: &mut egui::Ui, name: &str, add: impl FnOnce(&mut egui::Ui) -> egui::Response) {
    let label = ui.label(name);
    add(ui).labelled_by(label.id);
    ui.end_row();
}

fn send(commands: &mut Vec<Command>, command: TrainingCommand) {
    commands.push(Command::Training(command));
}

fn form_ui(ui: &mut egui::Ui, state: &TrainingState, runs_dir: &std::path::Path, commands: &mut Vec<Command>) {
    let mut form = state.form.clone();
    egui::Grid::new("training_where").num_columns(2).show(ui, |ui| {
        row(ui, "Dataset", |ui| {
            ui.add(egui::TextEdit::singleline(&mut form.dataset).id_salt("training dataset").desired_width(240.0))
        });
        ui.label("");
        ui.horizontal(|ui| {
            if ui.small_button("Browse…").on_hover_text("Choose the dataset folder").clicked() {
                commands.push(Command::ChooseForTraining(TrainingPick::Dataset));
            }
            if form.follows_session {
                ui.weak("the dataset open in the window");
            } else if ui.small_button("Use the open dataset").clicked() {
                send(commands, TrainingCommand::UseOpenDataset);
            }
        });
        ui.end_row();
        row(ui, "Run name", |ui| {
            ui.add(egui::TextEdit::singleline(&mut form.run_name).id_salt("training run name").desired_width(240.0))
        });
        ui.label("Runs folder");
        ui.horizontal(|ui| {
            if ui.small_button("Browse…").on_hover_text("Choose the runs folder").clicked() {
                commands.push(Command::ChooseForTraining(TrainingPick::RunsDir));
            }
            // A long path is cut with "…" at the pane's edge, whole in its tooltip.
            let path = runs_dir.display().to_string();
            ui.add(egui::Label::new(egui::RichText::new(&path).weak()).truncate()).on_hover_text(path);
        });
        ui.end_row();
    });
    // Always one label, whatever it says, so that the fields below keep their ids while the
    // dataset path is typed.
    match state.facts() {
        Some(Ok(facts)) => {
            let modalities: Vec<&str> = check::available_modalities(facts).into_iter().map(Modality::name).collect();
            ui.weak(format!(
                "{}: train {} / valid {} / test {} utterances; features: {}",
                facts.name,
                facts.train,
                facts.valid,
                facts.test,
                modalities.join(", ")
            ));
        }
        Some(Err(e)) => {
            ui.colored_label(theme::ERROR_TEXT, e);
        }
        None => {
            ui.weak("");
        }
    }

    ui.separator();
    target::target_ui(ui, &mut form.target, state.script_preview.as_deref());
    ui.separator();
    ui.horizontal(|ui| {
        let label = ui.label("Preset");
        let current = PRESETS.iter().find(|(p, _)| *p == form.config.preset).map_or("?", |(_, name)| name);
        egui::ComboBox::from_id_salt("training_preset")
            .selected_text(current)
            .show_ui(ui, |ui| {
                for (preset, name) in PRESETS {
                    if ui.selectable_label(form.config.preset == preset, name).clicked() && preset != form.config.preset
                    {
                        send(commands, TrainingCommand::SetPreset(preset));
                    }
                }
            })
            .response
            .labelled_by(label.id);
    });
    config_ui(ui, &mut form);
    ui.separator();
    device_ui(ui, state, &mut form);
    va_source_ui(ui, state, &mut form, commands);
    ui.separator();
    sweep_ui(ui, &mut form);
    if form != state.form {
        send(commands, TrainingCommand::SetForm(Box::new(form)));
    }
}

/// Which VA the run trains on: the dataset's, the audit store's (an annotator or a consensus),
/// or an overlay file.
fn va_source_ui(ui: &mut egui::Ui, state: &TrainingState, form: &mut TrainingForm, commands: &mut Vec<Command>) {
    let annotators: &[String] = state.annotators.as_deref().unwrap_or_default();
    let mut choices = vec![VaSource::Dataset];
    choices.extend(annotators.iter().map(|name| VaSource::Audit(OverlaySource::Annotator(name.clone()))));
    if !annotators.is_empty() {
        choices.push(VaSource::Audit(OverlaySource::Consensus(Consensus::Mean)));
        choices.push(VaSource::Audit(OverlaySource::Consensus(Consensus::Median)));
    }
    choices.push(VaSource::File);
    if !choices.contains(&form.va_source) {
        // An annotator of another dataset's store: keep it, the problems list explains it.
        choices.insert(1, form.va_source.clone());
    }
    ui.horizontal(|ui| {
        let label = ui.label("VA source");
        egui::ComboBox::from_id_salt("training_va_source")
            .selected_text(va_source_name(&form.va_source))
            .show_ui(ui, |ui| {
                for choice in choices {
                    let name = va_source_name(&choice);
                    ui.selectable_value(&mut form.va_source, choice, name);
                }
            })
            .response
            .labelled_by(label.id)
            .on_hover_text(
                "Audit choices export the store's corrected VA when the job is launched \
                 (RUNS/.audited/<name>.csv); the run keeps its copy as va-overlay.csv.",
            );
    });
    match (&form.va_source, &state.annotators) {
        (VaSource::File, _) => {
            ui.horizontal(|ui| {
                let label = ui.label("Overlay file");
                if ui.small_button("Browse…").on_hover_text("Choose the overlay CSV").clicked() {
                    commands.push(Command::ChooseForTraining(TrainingPick::Overlay));
                }
                ui.add(
                    egui::TextEdit::singleline(&mut form.va_overlay)
                        .id_salt("training overlay")
                        .desired_width(f32::INFINITY),
                )
                .labelled_by(label.id)
                .on_hover_text("A VA overlay CSV written by `univa audit export`.");
            });
        }
        (VaSource::Dataset, Err(why)) => {
            ui.weak(format!("No audited VA: {why}"));
        }
        _ => {}
    }
}

fn va_source_name(source: &VaSource) -> String {
    match source {
        VaSource::Dataset => "dataset VA (utterances.csv)".to_owned(),
        VaSource::Audit(OverlaySource::Annotator(name)) => format!("audited: {name}"),
        VaSource::Audit(OverlaySource::Consensus(Consensus::Mean)) => "audited: mean of all annotators".to_owned(),
        VaSource::Audit(OverlaySource::Consensus(Consensus::Median)) => "audited: median of all annotators".to_owned(),
        VaSource::File => "overlay file…".to_owned(),
    }
}

/// Why the form cannot launch, and the launch button.
fn launch_ui(ui: &mut egui::Ui, state: &TrainingState, commands: &mut Vec<Command>) {
    // One label however many problems there are: the form's fields below keep their ids (and a
    // field being typed in keeps the keyboard) while the list changes.
    let label =
        if state.form.sweep.enabled { format!("Launch sweep ({} runs)", state.planned) } else { "Launch".to_owned() };
    if ui.add_enabled(state.problems.is_empty(), egui::Button::new(label)).clicked() {
        send(commands, TrainingCommand::Launch);
    }
    let problems: Vec<String> = state.problems.iter().map(|p| format!("• {p}")).collect();
    ui.colored_label(theme::ERROR_TEXT, problems.join("\n"));
}

fn config_ui(ui: &mut egui::Ui, form: &mut TrainingForm) {
    let config = &mut form.config;
    ui.label("Loss");
    egui::Grid::new("training_loss").num_columns(2).show(ui, |ui| {
        row(ui, "λ (contrastive weight)", |ui| ui.add(egui::DragValue::new(&mut config.loss.lambda).speed(0.01)));
        row(ui, "τ (temperature)", |ui| ui.add(egui::DragValue::new(&mut config.loss.temperature).speed(0.01)));
        row(ui, "δ (VA positive distance)", |ui| ui.add(egui::DragValue::new(&mut config.loss.delta).speed(0.01)));
        row(ui, "ζ (decision threshold)", |ui| ui.add(egui::DragValue::new(&mut config.train.threshold).speed(0.005)));
        let current = Ablation::of(config);
        row(ui, "Ablation", |ui| {
            egui::ComboBox::from_id_salt("training_ablation")
                .selected_text(current.label())
                .show_ui(ui, |ui| {
                    for ablation in Ablation::ALL {
                        if ui.selectable_label(current == ablation, ablation.label()).clicked() {
                            ablation.apply(config);
                        }
                    }
                })
                .response
        });
        ui.label("");
        ui.checkbox(&mut config.loss.normalize, "L2-normalise H (SupCon)");
        ui.end_row();
    });
    ui.label("Model");
    ui.horizontal(|ui| {
        ui.label("Modalities");
        for modality in Modality::ALL {
            let mut on = config.model.is_active(modality);
            if ui.checkbox(&mut on, modality.name()).changed() {
                let mut chosen: Vec<Modality> = config.model.active().filter(|&m| m != modality).collect();
                if on {
                    chosen.push(modality);
                }
                config.model.modalities = Modality::ALL.into_iter().filter(|m| chosen.contains(m)).collect();
            }
        }
    });
    egui::Grid::new("training_model").num_columns(2).show(ui, |ui| {
        row(ui, "Hidden size d", |ui| ui.add(egui::DragValue::new(&mut config.model.hidden)));
        row(ui, "Heads", |ui| ui.add(egui::DragValue::new(&mut config.model.heads)));
        ui.label("Layers");
        ui.horizontal(|ui| {
            for modality in Modality::ALL {
                let label = ui.label(modality.name());
                ui.add(egui::DragValue::new(config.model.layers.get_mut(modality)).range(0..=24)).labelled_by(label.id);
            }
        });
        ui.end_row();
        row(ui, "Dropout", |ui| ui.add(egui::DragValue::new(&mut config.model.dropout).speed(0.01)));
    });
    ui.label("Optimisation");
    egui::Grid::new("training_train").num_columns(2).show(ui, |ui| {
        row(ui, "Learning rate", |ui| {
            ui.add(
                egui::DragValue::new(&mut config.train.learning_rate)
                    .speed(1e-5)
                    .custom_formatter(|v, _| format!("{v:.1e}"))
                    .custom_parser(|s| s.trim().parse().ok()),
            )
        });
        row(ui, "Epochs", |ui| ui.add(egui::DragValue::new(&mut config.train.epochs)));
        row(ui, "Batch size", |ui| ui.add(egui::DragValue::new(&mut config.train.batch_size)));
        row(ui, "Seed", |ui| ui.add(egui::DragValue::new(&mut config.train.seed)));
        row(ui, "Warm-up fraction", |ui| ui.add(egui::DragValue::new(&mut config.train.warmup_fraction).speed(0.01)));
        row(ui, "Weight decay", |ui| ui.add(egui::DragValue::new(&mut config.train.weight_decay).speed(0.001)));
        row(ui, "Log every N steps", |ui| ui.add(egui::DragValue::new(&mut config.train.log_every)));
        row(ui, "Gradient clip", |ui| ui.add(egui::DragValue::new(&mut config.train.grad_clip).speed(0.05)));
    });
    ui.label("Any other field (TOML over the above)");
    ui.add(
        egui::TextEdit::multiline(&mut form.extra_toml)
            .id_salt("training extra toml")
            .hint_text("[model]\nmax_positions = 256\n[loss]\nkl_scale = 1.0")
            .desired_rows(3)
            .desired_width(f32::INFINITY)
            .code_editor(),
    );
}

fn device_ui(ui: &mut egui::Ui, state: &TrainingState, form: &mut TrainingForm) {
    let choices = devices::choices(&state.gpus);
    ui.horizontal(|ui| {
        let label = ui.label("Device");
        let current =
            choices.iter().find(|c| c.spec == form.device).map_or_else(|| form.device.clone(), |c| c.label.clone());
        egui::ComboBox::from_id_salt("training_device")
            .selected_text(current)
            .show_ui(ui, |ui| {
                for choice in &choices {
                    ui.selectable_value(&mut form.device, choice.spec.clone(), &choice.label);
                }
            })
            .response
            .labelled_by(label.id);
    });
    if !cuda_built() {
        let gpus = if state.gpus.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = state.gpus.iter().map(|g| g.name.clone()).collect();
            format!(" This machine has {}.", names.join(", "))
        };
        ui.weak(format!(
            "This build has no CUDA support (built without --features cuda), so jobs train on the CPU.{gpus} \
             packaging/cuda-setup.sh sets up a CUDA toolkit for a GPU build."
        ));
    }
}

fn sweep_ui(ui: &mut egui::Ui, form: &mut TrainingForm) {
    let sweep = &mut form.sweep;
    ui.checkbox(&mut sweep.enabled, "Sweep: one run per grid point");
    if !sweep.enabled {
        return;
    }
    egui::Grid::new("training_sweep").num_columns(2).show(ui, |ui| {
        row(ui, "Sweep name", |ui| {
            ui.add(egui::TextEdit::singleline(&mut sweep.name).id_salt("sweep name").desired_width(200.0))
        });
        row(ui, "Field", |ui| field_combo_ui(ui, "sweep_first", &mut sweep.first));
        let hint = sweep.first.example();
        row(ui, "Values", |ui| {
            ui.add(
                egui::TextEdit::singleline(&mut sweep.first_values)
                    .id_salt("sweep first values")
                    .hint_text(hint)
                    .desired_width(200.0),
            )
        });
        ui.label("");
        let mut second_on = sweep.second.is_some();
        ui.horizontal(|ui| {
            let check = ui.checkbox(&mut second_on, "Second field");
            if !second_on {
                sweep.second = None;
            } else if sweep.second.is_none() {
                sweep.second = Some(SweepField::Ablation);
            }
            if let Some(field) = &mut sweep.second {
                field_combo_ui(ui, "sweep_second", field).labelled_by(check.id);
            }
        });
        ui.end_row();
        if let Some(second) = sweep.second {
            row(ui, "Second values", |ui| {
                ui.add(
                    egui::TextEdit::singleline(&mut sweep.second_values)
                        .id_salt("sweep second values")
                        .hint_text(second.example())
                        .desired_width(200.0),
                )
            });
        }
    });
    ui.weak("Each point trains into <runs folder>/<sweep name>/<field>=<value>/, a run folder of its own.");
}

fn field_combo_ui(ui: &mut egui::Ui, id: &str, field: &mut SweepField) -> egui::Response {
    egui::ComboBox::from_id_salt(id)
        .selected_text(field.label())
        .show_ui(ui, |ui| {
            for option in SweepField::ALL {
                ui.selectable_value(field, option, option.label());
            }
        })
        .response
}

fn jobs_ui(ui: &mut egui::Ui, state: &TrainingState, commands: &mut Vec<Command>) {
    let Some(manager) = &state.manager else {
        ui.label("No jobs yet.");
        return;
    };
    if let Some(problem) = &manager.load_problem {
        ui.colored_label(theme::ERROR_TEXT, problem);
    }
    if manager.jobs().is_empty() {
        ui.label("No jobs yet.");
        return;
    }
    egui::ScrollArea::vertical().id_salt("training_jobs").auto_shrink([false, false]).show(ui, |ui| {
        egui::Grid::new("training_job_list").num_columns(6).striped(true).show(ui, |ui| {
            for job in manager.jobs().iter().rev() {
                let record = &job.record;
                let name = match &record.spec.sweep {
                    Some(sweep) => format!("{sweep}/{}", record.spec.name),
                    None => record.spec.name.clone(),
                };
                if ui.selectable_label(state.selected == Some(job.id()), name).clicked() {
                    send(commands, TrainingCommand::Select(job.id()));
                }
                // The buttons before the columns whose width changes, so they stay put; their ids
                // come from the job's, so that nothing drawn above (a problem listed, a job
                // added) changes them between a press and its release.
                let buttons = egui::UiBuilder::new()
                    .scope_id(egui::Id::unique(("training job buttons", job.id())))
                    .layout(egui::Layout::left_to_right(egui::Align::Center));
                ui.scope_builder(buttons, |ui| {
                    if matches!(record.status, JobStatus::Queued { .. } | JobStatus::Running { .. })
                        && ui.small_button("Cancel").clicked()
                    {
                        send(commands, TrainingCommand::Cancel(job.id()));
                    }
                    if job.can_resume() && ui.small_button("Resume").clicked() {
                        send(commands, TrainingCommand::Resume(job.id()));
                    }
                    if !record.status.is_active() && ui.small_button("Forget").clicked() {
                        send(commands, TrainingCommand::Forget(job.id()));
                    }
                });
                match manager.run_elsewhere(job) {
                    Some(pid) => {
                        ui.label(format!("{} · pid {pid}", record.status_text())).on_hover_text(
                            "Another univa process (a window or `univa jobs submit`) runs this job; \
                             Cancel asks its trainer to stop",
                        );
                    }
                    None => {
                        ui.label(record.status_text());
                    }
                }
                ui.label(where_text(&record.spec));
                ui.add(
                    egui::ProgressBar::new(job.curves.progress())
                        .desired_width(theme::JOB_PROGRESS_WIDTH)
                        .show_percentage(),
                );
                ui.label(eta_text(&job.curves, &record.status));
                ui.end_row();
            }
        });
    });
}

/// The device, and the machine when it is not this one.
fn where_text(spec: &JobSpec) -> String {
    if spec.target.is_local() { spec.device.clone() } else { format!("{} on {}", spec.device, spec.target.label()) }
}

fn eta_text(curves: &Curves, status: &JobStatus) -> String {
    if !matches!(status, JobStatus::Running { .. }) {
        return String::new();
    }
    match curves.eta_secs() {
        Some(secs) => format!("{} left", duration_text(secs)),
        None if curves.loss.is_empty() => "starting…".to_owned(),
        // Read back from a job's events file before any throughput was reported.
        None => String::new(),
    }
}

fn duration_text(secs: f64) -> String {
    let secs = secs.max(0.0).round() as u64;
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

/// The selected job: what it is, how it ended, its log tail and its curves.
fn job_ui(ui: &mut egui::Ui, job: &Job, commands: &mut Vec<Command>) {
    let (record, curves) = (&job.record, &job.curves);
    ui.horizontal_wrapped(|ui| {
        ui.strong(&record.spec.name);
        ui.label(format!("— {}", record.status_text()));
        if let Some(id) = &record.remote_id {
            ui.weak(format!("{} job {id}", record.spec.target.label()));
        }
        ui.weak(record.spec.run_dir.display().to_string());
        // Curves were read from the run's events, so there is a file to draw them from.
        if !curves.loss.is_empty() {
            let request = FigureRequest::Curves { run: record.spec.run_dir.clone() };
            export_button_ui(ui, commands, || request);
        }
    });
    let mut facts = Vec::new();
    if let Some(device) = &curves.device {
        facts.push(format!("on {device}"));
    }
    if let Some(parameters) = curves.parameters {
        facts.push(format!("{parameters} parameters"));
    }
    facts.push(format!("step {} of {}", curves.global_step, curves.total_steps));
    if let Some(speed) = curves.samples_per_sec() {
        facts.push(format!("{speed:.0} utterances/s"));
    }
    if let Some(secs) = curves.eta_secs().filter(|_| matches!(record.status, JobStatus::Running { .. })) {
        facts.push(format!("ETA {}", duration_text(secs)));
    }
    if let Some((epoch, f1)) = curves.best {
        facts.push(format!("best epoch {epoch}, valid miF1 {f1:.3}"));
    }
    ui.label(facts.join(" · "));
    if let Some(message) = record.status.message() {
        ui.colored_label(theme::ERROR_TEXT, message);
    }
    if let Some(reason) = &curves.stopped {
        ui.weak(reason);
    }
    if !record.stderr_tail.is_empty() {
        let dead = matches!(record.status, JobStatus::Failed { .. } | JobStatus::Died { .. });
        egui::CollapsingHeader::new("Trainer log (last lines)").id_salt("job_log").default_open(dead).show(ui, |ui| {
            for line in &record.stderr_tail {
                ui.monospace(line);
            }
        });
    }
    curves_ui(ui, curves);
}

/// Reads one metric of an epoch.
type PickMetric = fn(&crate::jobs::EpochPoint) -> f64;

fn series(name: &str, points: &[[f64; 2]]) -> Line<'static> {
    Line::new(name.to_owned(), points.to_vec())
}

fn curves_ui(ui: &mut egui::Ui, curves: &Curves) {
    let height = theme::TRAINING_PLOT_HEIGHT;
    let plot = |id: &str| Plot::new(id.to_owned()).height(height).legend(Legend::default()).x_axis_label("step");
    // KL (scaled ×1000 by default) and η differ by orders of magnitude: a plot each.
    ui.columns(4, |columns| {
        columns[0].label("Total loss");
        plot("curve_loss").show(&mut columns[0], |p| p.line(series("loss", &curves.loss)));
        columns[1].label("KL");
        plot("curve_kl").show(&mut columns[1], |p| p.line(series("KL", &curves.kl)));
        columns[2].label("η (correlation prior)");
        plot("curve_eta").show(&mut columns[2], |p| p.line(series("η", &curves.eta)));
        columns[3].label("VA-CL per modality");
        plot("curve_contrastive").show(&mut columns[3], |p| {
            for (modality, points) in curves.contrastive.iter() {
                if !points.is_empty() {
                    p.line(series(modality.name(), points).color(theme::modality_color(modality)));
                }
            }
        });
    });
    ui.columns(3, |columns| {
        columns[0].label("Learning rate");
        plot("curve_lr").show(&mut columns[0], |p| p.line(series("lr", &curves.learning_rate)));
        columns[1].label("Throughput (utterances/s)");
        plot("curve_throughput").show(&mut columns[1], |p| p.line(series("utt/s", &curves.throughput)));
        columns[2].label("Validation per epoch");
        let per_epoch =
            |pick: PickMetric| -> Vec<[f64; 2]> { curves.epochs.iter().map(|e| [e.epoch as f64, pick(e)]).collect() };
        Plot::new("curve_valid")
            .height(height)
            .legend(Legend::default())
            .x_axis_label("epoch")
            .include_y(0.0)
            .include_y(1.0)
            .show(&mut columns[2], |p| {
                let metrics: [(&str, PickMetric); 4] = [
                    ("Acc", |e| e.acc),
                    ("miF1", |e| e.micro_f1),
                    ("maF1", |e| e.macro_f1),
                    ("HL", |e| e.hamming_loss),
                ];
                for (index, (name, pick)) in metrics.into_iter().enumerate() {
                    // Few epochs: markers too, so a single epoch shows.
                    let colour = theme::label_color(index);
                    p.line(Line::new(name, per_epoch(pick)).color(colour));
                    p.points(Points::new(name, per_epoch(pick)).color(colour).radius(3.0));
                }
            });
    });
    if let Some(last) = curves.epochs.last() {
        ui.weak(format!(
            "epoch {}: train loss {:.4}, valid Acc {:.3}, miF1 {:.3}, maF1 {:.3}, HL {:.3} ({:.1} s)",
            last.epoch, last.train_loss, last.acc, last.micro_f1, last.macro_f1, last.hamming_loss, last.seconds
        ));
    }
}
