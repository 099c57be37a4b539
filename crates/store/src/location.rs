//! [`StoreUrl`]: which store `--state` names, parsed without touching the disk.

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
/// * `memory:` — a store that lives as long as the process (simulations and
///   tests; nothing survives a restart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    Memory,
}

impl StoreUrl {
    /// Parse a `--state` value (no I/O: the file is neither checked nor made).
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if url == "memory:" {
            return Ok(Self::Memory);
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
            r#"unsupported state store URL "s3://bucket/state": expected `sqlite:PATH` (a database file) or `memory:` (nothing persisted)"#
        );
        for text in ["", "memory", "memory:x", "SQLITE:x.db", "postgres://db"] {
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
