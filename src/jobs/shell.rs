//! Commands for a shell, here or on another machine: quoting, paths that keep a remote `~/`,
//! and running a helper command (ssh, rsync, a Slurm command) to its end.

use std::process::{Command, Stdio};

/// `text` quoted for a POSIX shell.
pub fn quote(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c)) {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// What a finished helper command (ssh, rsync, a Slurm command) printed.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
}

/// Runs `command` to its end with `input` on its standard input; an error names the command,
/// its exit status and the last line it wrote to standard error.
pub fn run(mut command: Command, input: Option<&str>) -> Result<Output, String> {
    let program = command.get_program().to_string_lossy().into_owned();
    command.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("`{program}` is not installed on this machine (not on PATH)"),
        _ => format!("could not start `{program}`: {e}"),
    })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        use std::io::Write as _;
        stdin.write_all(text.as_bytes()).map_err(|e| format!("`{program}`: writing its input: {e}"))?;
    }
    let output = child.wait_with_output().map_err(|e| format!("`{program}`: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        return Ok(Output { stdout });
    }
    // rsync's last line is its own summary; the first is often ssh's reason.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut lines = stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    let message = match (lines.next(), lines.next_back()) {
        (Some(first), Some(last)) => format!("{first} … {last}"),
        (Some(only), None) => only.to_owned(),
        _ => "no message".to_owned(),
    };
    Err(format!("`{program}` failed ({}): {message}", output.status))
}

/// A path for a remote shell: quoted, but a leading `~/` left to expand to the home folder.
pub fn shell_path(path: &str) -> String {
    match path.strip_prefix("~/") {
        Some(rest) => format!("~/{}", quote(rest)),
        None => quote(path),
    }
}
