//! Passwords as libpq finds them (the `postgres` crate does not): `PGPASSWORD`, else the
//! password file — `PGPASSFILE`, else `~/.pgpass` — whose lines are
//! `host:port:database:user:password`, `*` matching anything in the first four fields and `\`
//! escaping `:` and `\`. Like libpq, a password file that others may read is ignored.

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

/// The password for `user` on `database` at `host:port`, if one is given.
pub(super) fn password(host: &str, port: u16, database: &str, user: &str) -> Option<String> {
    if let Some(password) = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()) {
        return Some(password);
    }
    let file = match std::env::var_os("PGPASSFILE") {
        Some(file) => PathBuf::from(file),
        None => directories::BaseDirs::new()?.home_dir().join(".pgpass"),
    };
    let metadata = std::fs::metadata(&file).ok().filter(std::fs::Metadata::is_file)?;
    if metadata.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            "{}: others may read this password file, so it is not used (chmod 600 it, as libpq asks)",
            file.display()
        );
        return None;
    }
    let text = std::fs::read_to_string(&file).ok()?;
    lookup(&text, host, port, database, user)
}

/// The password of the first line of a password file that matches.
fn lookup(text: &str, host: &str, port: u16, database: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    text.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let fields = fields(line.trim_end_matches('\r'));
        let [h, p, d, u, password, ..] = fields.as_slice() else { return None };
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        (matches(h, host) && matches(p, &port) && matches(d, database) && matches(u, user)).then(|| password.clone())
    })
}

/// A line's `:`-separated fields, with `\` escapes undone.
fn fields(line: &str) -> Vec<String> {
    let (mut fields, mut field) = (Vec::new(), String::new());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => field.extend(chars.next()),
            ':' => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_line_gives_the_password() {
        let file = "# comment\n\
                    db.lab:5432:audits:alice:first\n\
                    *:5433:*:alice:any\\:host\n\
                    db.lab:*:audits:*:w\\\\ild\r\n\
                    localhost:5432:*:bob:socket\n";
        assert_eq!(lookup(file, "db.lab", 5432, "audits", "alice").as_deref(), Some("first"));
        assert_eq!(lookup(file, "elsewhere", 5433, "x", "alice").as_deref(), Some("any:host"));
        assert_eq!(lookup(file, "db.lab", 6000, "audits", "carol").as_deref(), Some("w\\ild"));
        assert_eq!(lookup(file, "localhost", 5432, "audits", "bob").as_deref(), Some("socket"));
        assert_eq!(lookup(file, "db.lab", 5432, "other", "alice"), None);
        assert_eq!(lookup("too:few:fields\n", "too", 5432, "fields", "x"), None);
    }
}
