//! `univa bench-projection`: the embedding map's targets measured in one run — UMAP over a
//! MOSEI-size synthetic training split (16,326 utterances × 3 modalities, d = 128, a known
//! cluster per modality and gold label), timed by stage; then on a seeded 2,000-point subset
//! the exact t-SNE and UMAP maps compared by 10-NN agreement (modality, gold label) and
//! trustworthiness. `--write DIR` saves the representations (`representations.npy`), their
//! classes and the maps, so `benches/projection_opentsne.py` can time openTSNE on the very same
//! input and cross-check the quality figures with scikit-learn. Build optimised: the numbers
//! of a debug build say nothing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::fsutil::write_atomic;
use crate::projection::bench::{self, Quality, Spread, Synthetic, Timing};
use crate::projection::{EmbeddingRequest, Method};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Utterances of the synthetic split (MOSEI's training split has 16,326).
    #[arg(long, default_value_t = 16_326)]
    pub utterances: usize,
    /// Length of each representation.
    #[arg(long, default_value_t = 128)]
    pub dim: usize,
    #[arg(long, default_value_t = 6)]
    pub labels: usize,
    /// Points of the subset the quality is measured on (exact t-SNE runs on it).
    #[arg(long, default_value_t = 2000)]
    pub subset: usize,
    #[arg(long, default_value_t = 1111)]
    pub seed: u64,
    /// Per-coordinate standard deviation of the modality centres.
    #[arg(long, default_value_t = Spread::default().modality)]
    pub modality_sd: f64,
    /// Per-coordinate standard deviation of the (modality, label) cluster offsets.
    #[arg(long, default_value_t = Spread::default().label)]
    pub label_sd: f64,
    /// Per-coordinate standard deviation of each representation's noise.
    #[arg(long, default_value_t = Spread::default().noise)]
    pub noise_sd: f64,
    /// Folder to write the representations, classes and maps to.
    #[arg(long)]
    pub write: Option<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let spread = Spread { modality: args.modality_sd, label: args.label_sd, noise: args.noise_sd };
    let data = bench::synthetic(args.utterances, 3, args.labels, args.dim, spread, args.seed);
    println!("{} points (utterances × 3 modalities), d = {}, {} gold labels", data.len(), args.dim, args.labels);
    let request = EmbeddingRequest { method: Method::Umap, seed: args.seed, ..EmbeddingRequest::default() };
    let (full_map, timing) = bench::timed_project(&data, &request)?;
    print_timing("UMAP, all points", &timing);

    let subset = bench::quality_subset(data.len(), args.subset, args.seed);
    let small = data.subset(&subset);
    let (tsne_map, tsne_timing) = bench::timed_project(&small, &bench::with_method(&request, Method::Tsne))?;
    let (umap_map, umap_timing) = bench::timed_project(&small, &request)?;
    print_timing(&format!("exact t-SNE, {} points", small.len()), &tsne_timing);
    print_timing(&format!("UMAP, {} points", small.len()), &umap_timing);
    let full_on_subset: Vec<[f32; 2]> = subset.iter().map(|&i| full_map[i]).collect();
    println!("quality on the {}-point subset (k = {}):", small.len(), bench::QUALITY_K);
    println!("  {:<36} {:>9} {:>9} {:>9}", "map", "modality", "label", "trust");
    for (name, map) in [
        ("exact t-SNE of the subset", &tsne_map),
        ("UMAP of the subset", &umap_map),
        ("UMAP of all points, at the subset", &full_on_subset),
    ] {
        let Quality { modality_agreement, label_agreement, trustworthiness } = bench::quality_of(&small, map);
        println!("  {name:<36} {modality_agreement:>9.4} {label_agreement:>9.4} {trustworthiness:>9.4}");
    }
    if let Some(dir) = &args.write {
        std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
        write_npy(&dir.join("representations.npy"), &data)?;
        write_classes(&dir.join("classes.csv"), &data)?;
        write_map(&dir.join("umap.csv"), &full_map)?;
        write_map(&dir.join("subset_tsne.csv"), &tsne_map)?;
        write_map(&dir.join("subset_umap.csv"), &umap_map)?;
        let indices: String = subset.iter().fold(String::new(), |mut s, i| {
            let _ = writeln!(s, "{i}");
            s
        });
        write_atomic(&dir.join("subset.txt"), indices.as_bytes())?;
        println!("wrote the representations, classes and maps to {}", dir.display());
    }
    Ok(())
}

fn print_timing(name: &str, t: &Timing) {
    println!(
        "{name}: {:.2} s (PCA {:.2} s, neighbours {:.2} s, layout {:.2} s)",
        t.total.as_secs_f64(),
        t.prepare.as_secs_f64(),
        t.neighbours.as_secs_f64(),
        t.layout.as_secs_f64()
    );
}

/// A NumPy `.npy` file (format 1.0) of the rows as float32, n × dim.
fn write_npy(path: &Path, data: &Synthetic) -> anyhow::Result<()> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", data.len(), data.dim);
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + data.data.len() * 4);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in &data.data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    write_atomic(path, &bytes).with_context(|| format!("{}", path.display()))
}

fn write_classes(path: &Path, data: &Synthetic) -> anyhow::Result<()> {
    let mut text = String::from("modality,label\n");
    for (m, l) in data.modality.iter().zip(&data.label) {
        let _ = writeln!(text, "{m},{l}");
    }
    write_atomic(path, text.as_bytes()).with_context(|| format!("{}", path.display()))
}

fn write_map(path: &Path, map: &[[f32; 2]]) -> anyhow::Result<()> {
    let mut text = String::from("x,y\n");
    for p in map {
        let _ = writeln!(text, "{},{}", p[0], p[1]);
    }
    write_atomic(path, text.as_bytes()).with_context(|| format!("{}", path.display()))
}
