//! The Training room's target selector: this machine, a host over SSH, or Slurm (here or
//! through a login node), with Slurm's resource fields and the sbatch script it would submit.

use crate::ui::state::{TargetForm, TargetKind};

const KINDS: [(TargetKind, &str); 3] =
    [(TargetKind::Local, "this machine"), (TargetKind::Ssh, "a host over SSH"), (TargetKind::Slurm, "Slurm")];

/// A grid row: a label and the widget it names (for screen readers and UI tests).
fn row(ui: &mut egui::Ui, name: &str, add: impl FnOnce(&mut egui::Ui) -> egui::Response) {
    let label = ui.label(name);
    add(ui).labelled_by(label.id);
    ui.end_row();
}

fn text_row(ui: &mut egui::Ui, name: &str, value: &mut String, hint: &str) {
    row(ui, name, |ui| ui.add(egui::TextEdit::singleline(value).id_salt(name).hint_text(hint).desired_width(220.0)));
}

/// Edits `form`; `preview` is the script a Slurm launch would submit.
pub fn target_ui(ui: &mut egui::Ui, form: &mut TargetForm, preview: Option<&str>) {
    ui.horizontal(|ui| {
        let label = ui.label("Train on");
        let current = KINDS.iter().find(|(k, _)| *k == form.kind).map_or("?", |(_, name)| name);
        egui::ComboBox::from_id_salt("training_target")
            .selected_text(current)
            .show_ui(ui, |ui| {
                for (kind, name) in KINDS {
                    ui.selectable_value(&mut form.kind, kind, name);
                }
            })
            .response
            .labelled_by(label.id);
    });
    if form.kind == TargetKind::Local {
        return;
    }
    if form.kind == TargetKind::Slurm {
        ui.checkbox(&mut form.slurm_over_ssh, "Submit on a login node over SSH");
    }
    let over_ssh = form.kind == TargetKind::Ssh || form.slurm_over_ssh;
    egui::Grid::new("training_target_fields").num_columns(2).show(ui, |ui| {
        if over_ssh {
            text_row(ui, "Host", &mut form.host, "user@host or user@host:port");
            text_row(ui, "Identity file", &mut form.identity, "empty: the agent or default keys");
            text_row(ui, "SSH config file", &mut form.ssh_config, "empty: ~/.ssh/config");
            text_row(ui, "univa there", &mut form.remote_univa, "univa, or its path there");
            text_row(ui, "Folder there", &mut form.work_dir, "univa-jobs (under home)");
            text_row(ui, "Dataset there", &mut form.remote_dataset, "empty: copy this one (rsync)");
        }
        if form.kind == TargetKind::Slurm {
            let slurm = &mut form.slurm;
            text_row(ui, "Partition", &mut slurm.partition, "empty: the default");
            row(ui, "GPUs (--gres=gpu:N)", |ui| ui.add(egui::DragValue::new(&mut slurm.gpus).range(0..=64)));
            row(ui, "CPUs per task", |ui| ui.add(egui::DragValue::new(&mut slurm.cpus).range(0..=256)));
            text_row(ui, "Time limit", &mut slurm.time, "HH:MM:SS, empty: the partition's");
            text_row(ui, "Memory", &mut slurm.mem, "e.g. 16G, empty: the default");
            text_row(ui, "Account", &mut slurm.account, "empty: your default");
            text_row(ui, "SLURM_CONF", &mut slurm.slurm_conf, "empty: the cluster's configuration");
            if !over_ssh {
                text_row(ui, "univa on the nodes", &mut slurm.univa, "empty: this executable");
            }
        }
    });
    ui.weak(if over_ssh {
        "ssh runs with BatchMode=yes: it uses your keys or agent and never asks for a password."
    } else {
        "The compute nodes must see this machine's paths (a shared file system)."
    });
    if let Some(script) = preview {
        egui::CollapsingHeader::new("sbatch script").id_salt("training_sbatch").default_open(true).show(ui, |ui| {
            egui::ScrollArea::horizontal().id_salt("training_sbatch_scroll").show(ui, |ui| {
                ui.add(egui::Label::new(egui::RichText::new(script).monospace()).extend());
            });
        });
    }
}
