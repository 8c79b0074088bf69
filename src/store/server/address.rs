//! A server store's address: a PostgreSQL connection string (`postgres://user@host:port/db`),
//! and the schema the store lives in (`?schema=NAME`, by default one named after the dataset,
//! so one database holds the stores of several datasets). The password is never part of what
//! is shown or kept: it comes from the connection string as typed, `PGPASSWORD`, or the
//! password file (`super::pgpass`).

use std::time::Duration;

use super::pgpass;
use crate::store::StoreError;

/// How long connecting may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long sent data may go unacknowledged (a cable pulled, a laptop leaving the network)
/// before the connection counts as lost, instead of the system's many minutes.
const UNACKNOWLEDGED_TIMEOUT: Duration = Duration::from_secs(10);

/// A PostgreSQL server store's address, shown without its password.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// The connection string without the password and the schema.
    url: String,
    /// The schema named with `?schema=`.
    schema: Option<String>,
    /// The password written in the connection string: used, never shown.
    password: Option<String>,
}

impl std::fmt::Debug for ServerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServerAddress({self})")
    }
}

impl std::fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)?;
        if let Some(schema) = &self.schema {
            write!(f, "{}schema={schema}", if self.url.contains('?') { '&' } else { '?' })?;
        }
        Ok(())
    }
}

impl std::str::FromStr for ServerAddress {
    type Err = StoreError;

    /// Reads `postgres://[user[:password]@][host][:port][/dbname][?param=value&…]`, taking
    /// `schema` and `password` out of the parameters.
    fn from_str(text: &str) -> Result<Self, StoreError> {
        let text = text.trim();
        let invalid = |shown: &str, problem: String| StoreError::Invalid { path: shown.into(), problem };
        let Some((scheme, rest)) = text.split_once("://").filter(|_| Self::is_server(text)) else {
            return Err(invalid(text, "a server store's address starts with postgres:// or postgresql://".to_owned()));
        };
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        // As libpq reads it: user information ends at an '@' before the first '/'.
        let mut password = None;
        let rest = match rest.find(['@', '/']) {
            Some(at) if rest[at..].starts_with('@') => {
                let (user_info, host_and_path) = rest.split_at(at);
                match user_info.split_once(':') {
                    Some((user, typed)) => {
                        password = Some(percent_decode(typed));
                        format!("{user}{host_and_path}")
                    }
                    None => rest.to_owned(),
                }
            }
            _ => rest.to_owned(),
        };
        let mut schema = None;
        let mut kept = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')).filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("schema", value)) => schema = Some(percent_decode(value)),
                Some(("password", value)) => password = Some(percent_decode(value)),
                _ => kept.push(pair),
            }
        }
        let mut url = format!("{scheme}://{rest}");
        if !kept.is_empty() {
            url = format!("{url}?{}", kept.join("&"));
        }
        let address = Self { url, schema, password };
        let shown = address.to_string();
        if let Some(schema) = &address.schema
            && !is_schema_name(schema)
        {
            return Err(invalid(
                &shown,
                format!(
                    "schema {schema:?} is not a schema name this app makes: lower-case letters, digits and _, at \
                     most 63, not starting with a digit"
                ),
            ));
        }
        address
            .url
            .parse::<postgres::Config>()
            .map_err(|e| invalid(&shown, format!("is not a PostgreSQL connection string ({e})")))?;
        Ok(address)
    }
}

impl ServerAddress {
    /// Whether `text` is a server address rather than a file.
    pub fn is_server(text: &str) -> bool {
        let text = text.trim_start();
        text.starts_with("postgres://") || text.starts_with("postgresql://")
    }

    /// The schema named in the address, if one is.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The schema of `dataset`'s store: the one named in the address, else `univa_` and the
    /// dataset's name in lower-case letters, digits and `_`.
    pub fn schema_for(&self, dataset: &str) -> String {
        self.schema.clone().unwrap_or_else(|| dataset_schema(dataset))
    }

    /// This address with `schema` named in it.
    pub fn with_schema(&self, schema: &str) -> Self {
        Self { schema: Some(schema.to_owned()), ..self.clone() }
    }

    /// The connection's settings: the schema as the search path, the password found for it
    /// (the address's, `PGPASSWORD`, or the password file's), timeouts that notice a lost
    /// server in seconds.
    pub(super) fn config(&self, schema: &str) -> Result<postgres::Config, String> {
        let mut config: postgres::Config =
            self.url.parse().map_err(|e| format!("is not a PostgreSQL connection string ({e})"))?;
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        if config.get_user().is_none()
            && let Some(user) = ["PGUSER", "USER", "LOGNAME"].into_iter().find_map(|v| std::env::var(v).ok())
        {
            config.user(&user);
        }
        let options = match config.get_options() {
            Some(given) => format!("{given} -c search_path={schema}"),
            None => format!("-c search_path={schema}"),
        };
        config.options(&options);
        if config.get_password().is_none() {
            let host = match config.get_hosts().first() {
                Some(postgres::config::Host::Tcp(host)) => host.clone(),
                // libpq looks up a Unix socket's password as localhost's.
                _ => "localhost".to_owned(),
            };
            let port = config.get_ports().first().copied().unwrap_or(5432);
            let user = config.get_user().unwrap_or_default().to_owned();
            let database = config.get_dbname().unwrap_or(&user).to_owned();
            let found = self.password.clone().or_else(|| pgpass::password(&host, port, &database, &user));
            if let Some(password) = found {
                config.password(password);
            }
        }
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(UNACKNOWLEDGED_TIMEOUT)
            .tcp_user_timeout(UNACKNOWLEDGED_TIMEOUT)
            .application_name("univa-studio");
        Ok(config)
    }
}

/// `univa_` and the dataset's name in lower-case ASCII letters, digits and single `_`s.
fn dataset_schema(dataset: &str) -> String {
    let mut slug = String::new();
    for c in dataset.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('_') {
            slug.push('_');
        }
    }
    let slug: String = slug.trim_end_matches('_').chars().take(63 - "univa_".len()).collect();
    format!("univa_{}", if slug.is_empty() { "dataset" } else { slug.trim_end_matches('_') })
}

/// A schema name that needs no quoting: lower-case letters, digits and `_`, not starting with a
/// digit, at most 63 bytes (PostgreSQL's limit).
fn is_schema_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

/// `%XX` escapes decoded (invalid ones kept as they are).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_used_but_never_shown() {
        let address: ServerAddress =
            "postgres://alice:s%40cret@db.lab:5433/audits?schema=pilot&sslmode=disable".parse().unwrap();
        assert_eq!(address.to_string(), "postgres://alice@db.lab:5433/audits?sslmode=disable&schema=pilot");
        assert!(!format!("{address:?}").contains("cret"));
        assert_eq!(address.schema(), Some("pilot"));
        let config = address.config("pilot").unwrap();
        assert_eq!(config.get_password(), Some(&b"s@cret"[..]));
        assert_eq!(config.get_options(), Some("-c search_path=pilot"));
        let by_parameter: ServerAddress = "postgresql://bob@h/db?password=pw".parse().unwrap();
        assert_eq!(by_parameter.to_string(), "postgresql://bob@h/db");
        assert_eq!(by_parameter.config("s").unwrap().get_password(), Some(&b"pw"[..]));
        // Shown as it would be typed again: the address round-trips without the password.
        let shown: ServerAddress = address.to_string().parse().unwrap();
        assert_eq!(shown.to_string(), address.to_string());
    }

    #[test]
    fn a_dataset_gets_a_schema_of_its_own_unless_one_is_named() {
        let address: ServerAddress = "postgres://h/db".parse().unwrap();
        assert_eq!(address.schema_for("MOSEI demo (v2)"), "univa_mosei_demo_v2");
        assert_eq!(address.schema_for("情感"), "univa_dataset");
        assert!(address.schema_for(&"x".repeat(100)).len() <= 63);
        assert!(is_schema_name(&address.schema_for("Any-Name.2")));
        assert_eq!(address.with_schema("team_a").schema_for("demo"), "team_a");
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        for (text, words) in [
            ("postgres://h/db?schema=Robert'); DROP", "not a schema name"),
            ("postgres://h:notaport/db", "not a PostgreSQL connection string"),
            ("mysql://h/db", "starts with postgres://"),
        ] {
            let error = text.parse::<ServerAddress>().unwrap_err().to_string();
            assert!(error.contains(words), "{text}: {error}");
        }
        assert!(ServerAddress::is_server("postgresql://x") && !ServerAddress::is_server("/data/postgres.sqlite"));
    }
}
