//! [`StoreUrl`]: which store `--state` names, parsed without touching the disk
//! or the network.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::StoreError;

/// A parsed `--state` value.
///
/// Accepted forms:
/// * `sqlite:PATH` — a SQLite database file (created with its parent
///   directories if missing). `sqlite://PATH` is read the same way, because
///   that is how sqlx and many tools spell SQLite URLs: `sqlite:///var/x.db` is
///   the absolute path `/var/x.db`, `sqlite://x.db` the relative `x.db`.
/// * `postgres://…` or `postgresql://…` — a PostgreSQL database, in libpq's
///   URL form (`postgres://user:password@host:5432/db?sslmode=verify-full`),
///   shared by any number of replicas.
/// * `memory:` — a store that lives as long as the process (simulations and
///   tests; nothing survives a restart).
///
/// Displaying a URL never shows a password (`postgres://user:***@host/db`), so
/// it is safe in logs and error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    Postgres(PostgresUrl),
    Memory,
}

/// A `postgres://` URL. It keeps the text as given, because that is what
/// sqlx parses; only [`fmt::Display`] and [`fmt::Debug`] hide the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl {
    text: String,
}

impl PostgresUrl {
    /// The URL as given, password included: for connecting, never for
    /// printing.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        redact(&self.text)
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PostgresUrl")
            .field(&self.redacted())
            .finish()
    }
}

/// `url` with the password of its user info and any `password=` query
/// parameter replaced by `***`. Works on text that is not a valid URL too, so
/// that an unparsable URL can be named in an error without leaking.
pub fn redact(url: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let mut out = String::with_capacity(url.len());
    match before_query.split_once("://") {
        Some((scheme, rest)) => {
            out.push_str(scheme);
            out.push_str("://");
            let authority_end = rest.find(['/', '#']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            // The last `@` ends the user info: a password may contain an
            // unencoded `@`, a host never does.
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    match userinfo.split_once(':') {
                        Some((user, _password)) => {
                            out.push_str(user);
                            out.push_str(":***");
                        }
                        None => out.push_str(userinfo),
                    }
                    out.push('@');
                    out.push_str(host);
                }
                None => out.push_str(authority),
            }
            out.push_str(path);
        }
        None => out.push_str(before_query),
    }
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                    format!("{name}=***")
                }
                _ => param.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

impl StoreUrl {
    /// Parse a `--state` value (no I/O: the file is neither checked nor made).
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if url == "memory:" {
            return Ok(Self::Memory);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // Checked here so that a typo fails before anything starts; sqlx
            // parses it again when connecting.
            return match sqlx::postgres::PgConnectOptions::from_str(url) {
                Ok(_) => Ok(Self::Postgres(PostgresUrl {
                    text: url.to_owned(),
                })),
                Err(source) => Err(StoreError::InvalidPostgresUrl {
                    url: redact(url),
                    source,
                }),
            };
        }
        let Some(rest) = url.strip_prefix("sqlite:") else {
            return Err(StoreError::UnsupportedUrl {
                url: url.to_owned(),
            });
        };
        let path = rest.strip_prefix("//").unwrap_or(rest);
        let invalid = |reason| StoreError::InvalidPath {
            url: url.to_owned(),
            reason,
        };
        if path.is_empty() {
            return Err(invalid("the path after `sqlite:` is empty"));
        }
        // sqlx would read this name as a private in-memory database: a run
        // would then succeed while persisting nothing.
        if path == ":memory:" {
            return Err(invalid(
                "`:memory:` is SQLite's in-memory database; use `memory:` for a store that persists nothing",
            ));
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }
}

impl FromStr for StoreUrl {
    type Err = StoreError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Self::parse(url)
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Self::Postgres(url) => fmt::Display::fmt(url, f),
            Self::Memory => f.write_str("memory:"),
        }
    }
}

/// The default store: `sqlite:<data dir>/srecap/state.db`, where the data
/// directory is `$XDG_DATA_HOME`, else `$HOME/.local/share` (XDG base directory
/// specification).
pub fn default_url() -> Result<StoreUrl, StoreError> {
    default_url_from(
        std::env::var_os("XDG_DATA_HOME").as_deref(),
        std::env::var_os("HOME").as_deref(),
    )
}

/// [`default_url`] for given values of `XDG_DATA_HOME` and `HOME`, so that the
/// choice can be tested without changing the process environment.
///
/// Relative or empty values are ignored: the XDG specification says so for
/// `XDG_DATA_HOME`, and a relative `HOME` would put the history wherever the
/// process happens to start.
pub fn default_url_from(
    xdg_data_home: Option<&OsStr>,
    home: Option<&OsStr>,
) -> Result<StoreUrl, StoreError> {
    fn absolute(value: Option<&OsStr>) -> Option<&Path> {
        value.map(Path::new).filter(|path| path.is_absolute())
    }
    let data_dir = absolute(xdg_data_home)
        .map(Path::to_path_buf)
        .or_else(|| absolute(home).map(|home| home.join(".local").join("share")))
        .ok_or(StoreError::NoDataDir)?;
    Ok(StoreUrl::Sqlite(data_dir.join("srecap").join("state.db")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms_parse() {
        let cases = [
            ("memory:", StoreUrl::Memory),
            ("sqlite:state.db", StoreUrl::Sqlite("state.db".into())),
            (
                "sqlite:/var/lib/aus.db",
                StoreUrl::Sqlite("/var/lib/aus.db".into()),
            ),
            (
                "sqlite:///var/lib/aus.db",
                StoreUrl::Sqlite("/var/lib/aus.db".into()),
            ),
            ("sqlite://rel/aus.db", StoreUrl::Sqlite("rel/aus.db".into())),
        ];
        for (text, want) in cases {
            assert_eq!(StoreUrl::parse(text).expect(text), want, "{text}");
        }
        assert_eq!(
            StoreUrl::parse("sqlite:///x/y.db")
                .expect("valid")
                .to_string(),
            "sqlite:/x/y.db"
        );
    }

    #[test]
    fn rejected_forms_name_the_url_and_the_accepted_forms() {
        let err = StoreUrl::parse("s3://bucket/state").expect_err("unknown scheme");
        assert_eq!(
            err.to_string(),
            r#"unsupported state store URL "s3://bucket/state": expected `sqlite:PATH` (a database file), `postgres://USER@HOST/DB` (a PostgreSQL database) or `memory:` (nothing persisted)"#
        );
        for text in [
            "",
            "memory",
            "memory:x",
            "SQLITE:x.db",
            "postgres:db",
            "mysql://db",
        ] {
            assert!(
                matches!(
                    StoreUrl::parse(text),
                    Err(StoreError::UnsupportedUrl { .. })
                ),
                "{text:?}"
            );
        }
        for text in ["sqlite:", "sqlite://", "sqlite::memory:"] {
            let err = StoreUrl::parse(text).expect_err(text);
            assert!(
                err.to_string().starts_with(&format!(
                    "state store URL {text:?} names no database file: "
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn postgres_urls_parse_and_never_display_a_password() {
        for (text, shown) in [
            (
                "postgres://aus:s3cr%40t@db.example:5432/srecap?sslmode=verify-full",
                "postgres://aus:***@db.example:5432/srecap?sslmode=verify-full",
            ),
            ("postgresql://aus@db/srecap", "postgresql://aus@db/srecap"),
            (
                "postgres://db/srecap?user=aus&password=hunter2&sslmode=require",
                "postgres://db/srecap?user=aus&password=***&sslmode=require",
            ),
            (
                "postgres://aus:p@ss:word@db/srecap",
                "postgres://aus:***@db/srecap",
            ),
        ] {
            let url = StoreUrl::parse(text).expect(text);
            let StoreUrl::Postgres(pg) = &url else {
                panic!("{text} is not a PostgreSQL URL");
            };
            assert_eq!(pg.expose(), text);
            assert_eq!(url.to_string(), shown);
            let debug = format!("{url:?}");
            assert!(debug.contains(shown), "{debug}");
            for secret in ["s3cr", "hunter2", "p@ss"] {
                assert!(!debug.contains(secret), "{debug}");
            }
        }
    }

    #[test]
    fn invalid_postgres_urls_are_named_without_their_password() {
        let err =
            StoreUrl::parse("postgres://aus:hunter2@db:notaport/srecap").expect_err("bad port");
        let message = err.to_string();
        assert!(
            message.starts_with(
                r#"invalid PostgreSQL state store URL "postgres://aus:***@db:notaport/srecap""#
            ),
            "{message}"
        );
        assert!(!format!("{err:?}").contains("hunter2"));
    }

    #[test]
    fn default_prefers_xdg_data_home_then_home() {
        let os = |s: &'static str| Some(OsStr::new(s));
        let path = |url: StoreUrl| url.to_string();
        assert_eq!(
            path(default_url_from(os("/data"), os("/home/me")).expect("xdg")),
            "sqlite:/data/srecap/state.db"
        );
        assert_eq!(
            path(default_url_from(None, os("/home/me")).expect("home")),
            "sqlite:/home/me/.local/share/srecap/state.db"
        );
        assert_eq!(
            path(default_url_from(os("relative"), os("/home/me")).expect("home")),
            "sqlite:/home/me/.local/share/srecap/state.db"
        );
        assert_eq!(
            path(default_url_from(os(""), os("/home/me")).expect("home")),
            "sqlite:/home/me/.local/share/srecap/state.db"
        );
        assert!(matches!(
            default_url_from(None, None),
            Err(StoreError::NoDataDir)
        ));
        assert!(matches!(
            default_url_from(os(""), os("rel")),
            Err(StoreError::NoDataDir)
        ));
    }
}
