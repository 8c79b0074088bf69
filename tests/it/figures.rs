//! Publication figures: each SVG parsed back (usvg) and its parts checked; PDF page size and
//! embedded font; PNG size = size × DPI; empty input and runs without a model refused with
//! nothing written.

use std::path::{Path, PathBuf};
use std::process::Command;

use egui_kittest::kittest::Queryable as _;
use resvg::usvg;
use univa::dataset::Dataset;
use univa::figures::canvas::PT_PER_MM;
use univa::figures::plots::{self, Colouring, EmbeddingData, EmbeddingPanel, Key};
use univa::figures::{self, Figure, Format, Page, ThemeName, data, parse_svg, tables};
use univa::modality::Modality;
use univa::va::PriorRule;

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo")
}

fn demo_run() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo")
}

fn univa(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_univa")).args(args).env("UNIVA_AUDIO", "off").output().unwrap()
}

fn page(w: f64, h: f64) -> Page {
    Page::new(w, h, ThemeName::Print, 150.0).unwrap()
}

/// The group with this id, anywhere in the tree.
fn group<'a>(g: &'a usvg::Group, id: &str) -> Option<&'a usvg::Group> {
    if g.id() == id {
        return Some(g);
    }
    g.children().iter().find_map(|node| match node {
        usvg::Node::Group(child) => group(child, id),
        _ => None,
    })
}

/// Every text under `g`, in document order, with its box on the page.
fn texts(g: &usvg::Group) -> Vec<(String, usvg::Rect)> {
    let mut out = Vec::new();
    for node in g.children() {
        match node {
            usvg::Node::Group(child) => out.extend(texts(child)),
            usvg::Node::Text(text) => {
                let s: String = text.chunks().iter().map(|c| c.text().to_owned()).collect();
                out.push((s, text.abs_bounding_box()));
            }
            _ => {}
        }
    }
    out
}

fn count(g: &usvg::Group, f: &dyn Fn(&usvg::Node) -> bool) -> usize {
    g.children()
        .iter()
        .map(|node| {
            usize::from(f(node))
                + match node {
                    usvg::Node::Group(child) => count(child, f),
                    _ => 0,
                }
        })
        .sum()
}

/// Every text lies inside the page (nothing clipped at the edges).
fn assert_texts_inside(tree: &usvg::Tree, figure: &Figure) {
    let size = tree.size();
    for (text, r) in texts(tree.root()) {
        assert!(
            r.left() >= -0.5 && r.top() >= -0.5 && r.right() <= size.width() + 0.5 && r.bottom() <= size.height() + 0.5,
            "{text:?} at {r:?} leaves the {:.0} × {:.0} mm page",
            figure.page.width_mm,
            figure.page.height_mm
        );
    }
}

#[test]
fn va_plane_has_the_modality_points_the_named_anchors_apart_and_its_axes() {
    let dataset = Dataset::open_lazy(demo()).unwrap();
    let data = data::va_plane(&dataset, "demo_000", true).unwrap();
    let figure = plots::va_plane(&page(88.0, 100.0), &data).unwrap();
    let tree = parse_svg(&figure.svg).unwrap();
    let points = group(tree.root(), "points").unwrap();
    assert_eq!(points.children().len(), data.points.len());
    assert_eq!(data.points.len(), 3);
    let all: Vec<String> = texts(tree.root()).into_iter().map(|(t, _)| t).collect();
    for expected in ["valence", "arousal", "Text", "Vision", "Audio", "label anchor (gold filled)"] {
        assert!(all.iter().any(|t| t == expected), "{expected:?} missing from {all:?}");
    }
    let labels = texts(group(tree.root(), "anchor-labels").unwrap());
    let names: Vec<&str> = labels.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(names, dataset.label_names());
    for (i, (a, ra)) in labels.iter().enumerate() {
        for (b, rb) in &labels[i + 1..] {
            assert!(ra.intersect(rb).is_none(), "labels {a:?} and {b:?} overlap");
        }
    }
    // the cloud (240 utterances × 3) is drawn as vector marks
    let cloud = group(tree.root(), "cloud-marks").unwrap();
    assert_eq!(cloud.children().len(), data.cloud.len());
    assert_texts_inside(&tree, &figure);
}

#[test]
fn correlation_cells_are_the_values_univa_va_prior_prints() {
    let output = univa(&["va-prior", "--dataset", demo().to_str().unwrap(), "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let matrix: Vec<Vec<f32>> = serde_json::from_value(json["matrix"].clone()).unwrap();
    let labels: Vec<String> = serde_json::from_value(json["labels"].clone()).unwrap();
    let dataset = Dataset::open_lazy(demo()).unwrap();
    let data = data::correlation(&dataset, PriorRule::default()).unwrap();
    let figure = plots::correlation(&page(180.0, 85.0), &data).unwrap();
    let tree = parse_svg(&figure.svg).unwrap();
    let cells: Vec<String> = texts(group(tree.root(), "heatmap-0").unwrap()).into_iter().map(|(t, _)| t).collect();
    // the title, then the cells row by row
    let expected: Vec<String> = matrix.iter().flatten().map(|v| plots::cell_text(*v)).collect();
    assert_eq!(cells[1..], expected[..]);
    assert!(expected.iter().any(|c| c.starts_with('−')), "a negative cosine is written with a minus sign");
    let axis: Vec<String> =
        texts(group(tree.root(), "heatmap-0-labels").unwrap()).into_iter().map(|(t, _)| t).collect();
    for label in &labels {
        assert_eq!(axis.iter().filter(|t| *t == label).count(), 2, "{label} on both axes");
    }
    // the co-occurrence's diagonal is 1 for every label that occurs
    let co: Vec<String> = texts(group(tree.root(), "heatmap-1").unwrap()).into_iter().map(|(t, _)| t).collect();
    let n = labels.len();
    assert!((0..n).all(|i| co[1 + i * n + i] == "1.00"), "{co:?}");
    assert!(group(tree.root(), "colour-bar").is_some());
    assert_texts_inside(&tree, &figure);
}

fn synthetic_map(panels: usize, points: usize) -> EmbeddingData {
    let panel = |p: usize| EmbeddingPanel {
        title: format!("run {p}"),
        points: (0..points)
            .map(|i| [(i as f32 * 0.37).sin() * 10.0 + p as f32, (i as f32 * 0.11).cos() * 5.0])
            .collect(),
        keys: (0..points).map(|i| Key::Category(i % 3)).collect(),
    };
    EmbeddingData {
        panels: (0..panels).map(panel).collect(),
        colouring: Colouring::Modality,
        categories: Modality::ALL.iter().map(|&m| plots::modality_title(m)).collect(),
    }
}

#[test]
fn sparse_maps_are_vector_marks_and_dense_maps_one_raster_layer() {
    let sparse = plots::embedding(&page(180.0, 90.0), &synthetic_map(2, 300)).unwrap();
    let tree = parse_svg(&sparse.svg).unwrap();
    assert_eq!(group(tree.root(), "map-0-marks").unwrap().children().len(), 300);
    assert_eq!(group(tree.root(), "map-1-marks").unwrap().children().len(), 300);
    assert_eq!(count(tree.root(), &|n| matches!(n, usvg::Node::Image(_))), 0);
    let legend: Vec<String> = texts(group(tree.root(), "legend").unwrap()).into_iter().map(|(t, _)| t).collect();
    assert_eq!(legend, ["Text", "Vision", "Audio"]);

    let dense = plots::embedding(&page(180.0, 90.0), &synthetic_map(2, plots::RASTER_FROM_POINTS)).unwrap();
    let tree = parse_svg(&dense.svg).unwrap();
    assert!(group(tree.root(), "map-0-marks").is_none());
    let raster = group(tree.root(), "map-0-raster").unwrap();
    assert_eq!(count(raster, &|n| matches!(n, usvg::Node::Image(_))), 1);
    assert_eq!(count(tree.root(), &|n| matches!(n, usvg::Node::Image(_))), 2);
    assert_texts_inside(&tree, &dense);
}

/// The numbers of `/MediaBox [a b c d]`.
fn media_box(pdf: &[u8]) -> Vec<f64> {
    let text = String::from_utf8_lossy(pdf);
    let start = text.find("/MediaBox [").expect("a MediaBox") + "/MediaBox [".len();
    let end = start + text[start..].find(']').unwrap();
    text[start..end].split_whitespace().map(|n| n.parse().unwrap()).collect()
}

#[test]
fn pdf_has_the_page_size_in_points_and_embeds_the_font_and_png_is_size_times_dpi() {
    let dataset = Dataset::open_lazy(demo()).unwrap();
    let data = data::correlation(&dataset, PriorRule::default()).unwrap();
    let figure = plots::correlation(&page(180.0, 85.0), &data).unwrap();
    let pdf = figures::render(&figure, Format::Pdf).unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    let media = media_box(&pdf);
    assert_eq!(media.len(), 4);
    assert!((media[2] - 180.0 * PT_PER_MM).abs() < 0.05 && (media[3] - 85.0 * PT_PER_MM).abs() < 0.05, "{media:?}");
    let text = String::from_utf8_lossy(&pdf);
    assert!(text.contains("/FontFile2"), "the font program is embedded");
    assert!(text.contains("DejaVuSans"), "as DejaVu Sans");

    for dpi in [72.0, 300.0] {
        let figure = Figure { page: Page { dpi, ..figure.page }, ..figure.clone() };
        let png = figures::render(&figure, Format::Png).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        let expect = |mm: f64| (mm / 25.4 * dpi).round() as u32;
        assert_eq!((info.width, info.height), (expect(180.0), expect(85.0)), "at {dpi} DPI");
        let dims = info.pixel_dims.unwrap();
        assert_eq!(dims.xppu, (dpi / 0.0254).round() as u32);
    }
}

#[test]
fn dense_map_pdf_embeds_its_raster_layer_and_stays_small() {
    let figure = plots::embedding(&page(180.0, 90.0), &synthetic_map(2, 20_000)).unwrap();
    let pdf = figures::render(&figure, Format::Pdf).unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    assert!(String::from_utf8_lossy(&pdf).contains("/Subtype /Image"), "the raster layer is an image XObject");
    assert!(pdf.len() < 5_000_000, "{} bytes", pdf.len());
}

#[test]
fn case_tables_and_ablation_tables_as_latex() {
    let dataset = Dataset::open(demo()).unwrap();
    let ids = ["demo_003", "demo_004"];
    let indices: Vec<usize> = ids.iter().map(|id| data::utterance_index(&dataset, id).unwrap()).collect();
    let predictions = data::predictions(&[demo_run()], &dataset, &indices).unwrap();
    let table = tables::CaseTable::new(&dataset, &indices, &predictions).unwrap();
    assert_eq!(table.systems, ["demo"]);
    let latex = tables::case_table_latex(&table);
    assert!(latex.contains("\\toprule") && latex.contains("\\midrule") && latex.contains("\\bottomrule"), "{latex}");
    assert!(latex.contains("\\texttt{demo\\_003}"), "ids are escaped: {latex}");
    assert_eq!(latex.matches(" \\\\\n").count(), 1 + ids.len());
    let height = tables::case_table_height_mm(&table, 180.0);
    let figure = tables::case_table(&page(180.0, height), &table).unwrap();
    let tree = parse_svg(&figure.svg).unwrap();
    let all: Vec<String> = texts(tree.root()).into_iter().map(|(t, _)| t).collect();
    assert!(all.iter().any(|t| t == "demo") && all.iter().any(|t| t.starts_with("demo_003: “")), "{all:?}");
    assert_texts_inside(&tree, &figure);

    let run = univa::runs::Run::load(&demo_run()).unwrap();
    let ablation = data::ablation(&[("demo".to_owned(), run)], Some(&demo()), univa::dataset::Split::Test).unwrap();
    let latex = tables::ablation_latex(&ablation);
    let acc = ablation.rows[0].metrics.acc;
    assert!(latex.contains(&format!("\\textbf{{{acc:.4}}}")), "the only run is best: {latex}");
}

#[test]
fn case_card_is_one_page_with_the_threshold_and_margins() {
    let dataset = Dataset::open(demo()).unwrap();
    let index = data::utterance_index(&dataset, "demo_003").unwrap();
    let card = data::case_card(&dataset, index, &[demo_run()]).unwrap();
    let figure = tables::case_card(&page(180.0, 75.0), &card).unwrap();
    let tree = parse_svg(&figure.svg).unwrap();
    let bars = texts(group(tree.root(), "probabilities").unwrap());
    let ours = &card.systems[0];
    let (p, t) = (ours.probabilities.clone().unwrap(), ours.threshold.unwrap());
    assert!(bars.iter().any(|(s, _)| *s == format!("ζ = {t:.2}")), "{bars:?}");
    for (l, name) in card.labels.iter().enumerate() {
        assert!(bars.iter().any(|(s, _)| s == name));
        let margin = figures::canvas::number(f64::from(p[l] - t), 2);
        assert!(bars.iter().any(|(s, _)| *s == margin), "{name}: margin {margin} in {bars:?}");
    }
    assert_texts_inside(&tree, &figure);
    let markdown = tables::case_card_markdown(&card);
    assert!(markdown.contains("| label | p | p − ζ"), "{markdown}");
    // the two headers and one row per modality and per label
    assert_eq!(markdown.matches("\n| ").count(), 2 + card.labels.len() + card.plane.points.len());
}

#[test]
fn curves_are_drawn_from_a_runs_events() {
    use univa::train::TrainEvent;
    let dir = tempfile::tempdir().unwrap();
    let names = vec!["a".to_owned(), "b".to_owned()];
    let valid = univa::metrics::compute(&[vec![true, false]], &[vec![true, true]], &names).unwrap();
    let mut events = vec![TrainEvent::Started {
        run: "r".into(),
        device: "cpu".into(),
        epochs: 2,
        steps_per_epoch: 3,
        parameters: 10,
        start_epoch: 0,
    }];
    // Epochs are numbered from 1 in events, as in every run file.
    for epoch in 1..=2 {
        for step in 0..3 {
            let global_step = (epoch - 1) * 3 + step + 1;
            events.push(TrainEvent::Step {
                epoch,
                step,
                global_step,
                lr: 1e-3,
                loss: 2.0 / global_step as f32,
                kl: 0.1,
                eta: 0.5,
                contrastive: 0.3,
                contrastive_per_modality: univa::modality::PerModality::from_fn(|m| Some(0.1 * (m.index() + 1) as f32)),
                samples_per_sec: 100.0,
            });
        }
        events.push(TrainEvent::Epoch {
            epoch,
            train_loss: 1.0,
            valid: Box::new(valid.clone()),
            best_micro_f1: valid.micro_f1,
            improved: true,
            seconds: 1.0,
        });
    }
    events.push(TrainEvent::Finished { best_epoch: 2, best_micro_f1: valid.micro_f1 });
    let lines: Vec<String> = events.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
    std::fs::write(dir.path().join("events.jsonl"), lines.join("\n")).unwrap();
    let panels = data::curves(dir.path()).unwrap();
    let figure = plots::lines(&page(180.0, 110.0), &panels, 3).unwrap();
    let tree = parse_svg(&figure.svg).unwrap();
    let all: Vec<String> = texts(tree.root()).into_iter().map(|(t, _)| t).collect();
    for expected in
        ["Training loss", "KL term", "VA-CL per modality", "Validation metrics", "step", "epoch", "best epoch 2"]
    {
        assert!(all.iter().any(|t| t == expected), "{expected:?} missing from {all:?}");
    }
    let legend: Vec<String> =
        texts(group(tree.root(), "panel-3-legend").unwrap()).into_iter().map(|(t, _)| t).collect();
    assert_eq!(legend, ["Text", "Vision", "Audio"]);
    assert_texts_inside(&tree, &figure);

    // a file without steps, or none at all, is refused with the file named
    std::fs::write(dir.path().join("events.jsonl"), lines[0].as_str()).unwrap();
    assert!(matches!(data::curves(dir.path()), Err(figures::FigureError::Empty(_))));
    let missing = tempfile::tempdir().unwrap();
    let err = data::curves(missing.path()).unwrap_err().to_string();
    assert!(err.contains("events.jsonl"), "{err}");
}

#[test]
fn empty_split_empty_map_and_run_without_model_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("tiny");
    let out = univa(&[
        "synth",
        "--out",
        set.to_str().unwrap(),
        "-n",
        "4",
        "--text",
        "2x3",
        "--vision",
        "2x2",
        "--audio",
        "2x2",
    ]);
    assert!(out.status.success());
    let pdf = dir.path().join("sweep.pdf");
    let run = demo_run();
    let out = univa(&[
        "figure",
        "threshold-sweep",
        "--run",
        run.to_str().unwrap(),
        "--dataset",
        set.to_str().unwrap(),
        "--split",
        "test",
        "--out",
        pdf.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("the test split has no utterances"), "{err}");
    assert!(!pdf.exists());

    let csv = dir.path().join("map.csv");
    std::fs::write(&csv, "id,modality,x,y\n").unwrap();
    let svg = dir.path().join("map.svg");
    let out = univa(&["figure", "embedding", "--map", csv.to_str().unwrap(), "--out", svg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("the map has no rows"), "{err}");
    assert!(!svg.exists());

    std::fs::write(&csv, "id,modality,x,y\ndemo_000,smell,1,2\n").unwrap();
    let out = univa(&["figure", "embedding", "--map", csv.to_str().unwrap(), "--out", svg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2, modality: \"smell\" is not text, vision or audio"), "{err}");

    let no_model = dir.path().join("run");
    std::fs::create_dir_all(&no_model).unwrap();
    std::fs::copy(run.join("config.json"), no_model.join("config.json")).unwrap();
    let out = univa(&[
        "figure",
        "case-card",
        "--dataset",
        demo().to_str().unwrap(),
        "--utterance",
        "demo_000",
        "--run",
        no_model.to_str().unwrap(),
        "--out",
        pdf.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("no model"), "{err}");
    assert!(!pdf.exists());
}

#[test]
fn paper_writes_the_set_with_a_readme() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("figs");
    let out = univa(&[
        "figure",
        "paper",
        "--run",
        demo_run().to_str().unwrap(),
        "--dataset",
        demo().to_str().unwrap(),
        "--dpi",
        "100",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let readme = std::fs::read_to_string(out_dir.join("README.md")).unwrap();
    for file in
        ["correlation.pdf", "embedding-by-modality.pdf", "threshold-sweep.pdf", "case-table.tex", "ablation-table.tex"]
    {
        assert!(out_dir.join(file).is_file(), "{file}");
        assert!(readme.contains(file), "{file} in {readme}");
    }
    assert!(readme.contains("Not drawn") && readme.contains("curves"), "the demo run has no events: {readme}");
}

#[test]
fn gui_export_gives_the_bytes_the_cli_writes() {
    use univa::ui::{ExportSettings, FigureRequest, figure_for};
    let dir = tempfile::tempdir().unwrap();
    let dataset = Dataset::open_lazy(demo()).unwrap();
    let demo_dir = demo();
    let settings = ExportSettings { width_mm: 120.0, height_mm: 70.0, dpi: 96.0, theme: ThemeName::Dark };
    let requests = [
        (FigureRequest::Correlation, vec!["correlation"]),
        (
            FigureRequest::VaPlane { utterance: "demo_001".into(), cloud: true },
            vec!["va-plane", "--utterance", "demo_001", "--cloud"],
        ),
    ];
    for (request, kind) in requests {
        let settings = if request == FigureRequest::Correlation {
            settings.clone()
        } else {
            ExportSettings { width_mm: 88.0, height_mm: 95.0, ..settings.clone() }
        };
        let figure = figure_for(&dataset, PriorRule::default(), None, &request, &settings).unwrap();
        for ext in ["svg", "pdf", "png"] {
            let out = dir.path().join(format!("{}.{ext}", kind[0]));
            let (w, h, dpi) = (settings.width_mm.to_string(), settings.height_mm.to_string(), settings.dpi.to_string());
            let mut args = vec!["figure"];
            args.extend(kind.iter().copied());
            args.extend([
                "--dataset",
                demo_dir.to_str().unwrap(),
                "--width-mm",
                &w,
                "--height-mm",
                &h,
                "--dpi",
                &dpi,
                "--theme",
                "dark",
                "--out",
                out.to_str().unwrap(),
            ]);
            let output = univa(&args);
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            let gui = figures::render(&figure, Format::of_path(&out).unwrap()).unwrap();
            assert!(std::fs::read(&out).unwrap() == gui, "{request:?} as {ext}: the GUI's bytes differ from the CLI's");
        }
    }
}

#[test]
fn gui_case_card_from_the_sessions_run_is_the_clis() {
    use univa::ui::{ExportSettings, FigureRequest, RunProbabilities, figure_for};
    let dir = tempfile::tempdir().unwrap();
    let session = univa::ui::Session::open(&demo(), Some(&demo_run())).unwrap();
    let run = session.run.as_ref().unwrap();
    let run = RunProbabilities { dir: &run.dir, probabilities: &run.probabilities, threshold: run.trained_threshold };
    let index = data::utterance_index(&session.dataset, "demo_003").unwrap();
    let request = FigureRequest::CaseCard { index, utterance: "demo_003".into() };
    let settings = ExportSettings { width_mm: 180.0, height_mm: 75.0, dpi: 100.0, theme: ThemeName::Print };
    let figure = figure_for(&session.dataset, session.prior_rule, Some(run), &request, &settings).unwrap();
    let out = dir.path().join("card.pdf");
    let output = univa(&[
        "figure",
        "case-card",
        "--dataset",
        demo().to_str().unwrap(),
        "--utterance",
        "demo_003",
        "--run",
        demo_run().to_str().unwrap(),
        "--dpi",
        "100",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(std::fs::read(&out).unwrap() == figures::render(&figure, Format::Pdf).unwrap());
    // without a run there is no case card
    let err = figure_for(&session.dataset, session.prior_rule, None, &request, &settings).unwrap_err();
    assert!(err.to_string().contains("needs a trained run"), "{err}");
}

#[test]
fn export_figure_button_opens_the_window_for_the_correlation_tab() {
    let mut harness = crate::gui::studio_with_run();
    harness.get_by_label("Correlation").click();
    harness.run_steps(2);
    let pane = harness.state().pane_rect(univa::ui::Pane::Correlation).unwrap();
    let button = harness.query_all_by_label("Export figure…").find(|b| pane.contains(b.rect().center()));
    button.expect("the correlation pane has its export button").click();
    harness.run_steps(3);
    harness.get_by_label_contains("Export figure: Correlation matrices");
    harness.get_by_label("Save…");
    harness.get_by_label("Copy as image");
}

#[test]
fn va_plane_shows_an_annotators_audit_as_ghost_and_arrow() {
    use univa::store::{Change, EventKind, Judgment, Status, Store};
    let dir = tempfile::tempdir().unwrap();
    let dataset = Dataset::open_lazy(demo()).unwrap();
    let path = dir.path().join("store.sqlite");
    let mut store = Store::open(&path, &dataset.manifest.name).unwrap();
    let ann = store.create_annotator("ann", "").unwrap();
    let audited = univa::dataset::Va::new(0.5, 0.5);
    let new = Judgment { va: audited, status: Status::Corrected, unsure: false, reason: String::new() };
    let change = Change {
        annotator: ann.id,
        utterance: "demo_000",
        modality: Modality::Vision,
        kind: EventKind::Correct,
        new: Some(new),
        reason: "",
        source_model: "",
        model: None,
    };
    store.record(&change).unwrap();
    drop(store);
    let svg = dir.path().join("plane.svg");
    let output = univa(&[
        "figure",
        "va-plane",
        "--dataset",
        demo().to_str().unwrap(),
        "--utterance",
        "demo_000",
        "--annotator",
        "ann",
        "--store",
        path.to_str().unwrap(),
        "--out",
        svg.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let tree = parse_svg(&std::fs::read_to_string(&svg).unwrap()).unwrap();
    // the ghost, the arrow's shaft and its head
    assert_eq!(group(tree.root(), "audited").unwrap().children().len(), 3);
    let all: Vec<String> = texts(tree.root()).into_iter().map(|(t, _)| t).collect();
    assert!(all.iter().any(|t| t.contains("audited by ann")), "{all:?}");

    let output = univa(&[
        "figure",
        "va-plane",
        "--dataset",
        demo().to_str().unwrap(),
        "--utterance",
        "demo_000",
        "--annotator",
        "nobody",
        "--store",
        path.to_str().unwrap(),
        "--out",
        svg.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("no annotator named \"nobody\""));
}
