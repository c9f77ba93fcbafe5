//! The one way spiketrain's binaries turn flags and TOML files into typed settings.
//!
//! A (sub)command's arguments are one struct that derives `clap::Args` (or `clap::Parser`),
//! `serde::Serialize` and `serde::Deserialize`. Its clap argument ids — the field names, in
//! snake_case — are also its TOML keys, so a file mirrors the flags:
//!
//! ```toml
//! # asgl-train fit --config train.toml
//! num_epoch = 30
//! lr = 0.1
//! ```
//!
//! A flag may keep another spelling on the command line (`#[arg(long = "zstd-level")]`); its key
//! is still the field name (`zstd_level`). An optional field `config: Option<PathBuf>`
//! (`#[arg(long)] #[serde(skip)]`) names the file to merge.
//!
//! Precedence, lowest first: clap defaults < the `--config` file < environment variables < flags
//! given on the command line. An unknown key, or a value that does not parse, is an error naming
//! the file and the key. Values that are not plain numbers, strings or booleans are parsed into
//! their types here, at the edge, through `FromStr` ([`serde_via_str!`](crate::serde_via_str)),
//! so the same text is accepted on the command line and in the file.
//!
//! The effective settings are saved with [`save_effective`] next to what they produced, and load
//! back through `--config` to the same values.

use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Command, FromArgMatches, Parser};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use crate::serde_via_str;

/// Name of the argument that points at the TOML file to merge.
pub const CONFIG_ARG: &str = "config";

/// Why settings could not be resolved or saved.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read the configuration file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not valid TOML", path.display())]
    Syntax {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("{}: unknown key `{key}` (the keys are the flag names in snake_case: {known})", path.display())]
    UnknownKey {
        path: PathBuf,
        key: String,
        known: String,
    },
    #[error("{}: bad value for `{key}`: {reason}", path.display())]
    BadValue {
        path: PathBuf,
        key: String,
        reason: String,
    },
    #[error("bad settings: {0}")]
    Invalid(String),
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Exit status of a command line that does not parse (`EX_USAGE` of sysexits.h).
pub const EXIT_USAGE: i32 = 64;

/// Parses the process's command line; on a usage error prints clap's message and exits with
/// [`EXIT_USAGE`] (`--help` and `--version` exit 0). Returns the typed arguments (flags only,
/// no file merged yet) and the matches to hand to [`resolve`].
pub fn parse<C: Parser>() -> (C, ArgMatches) {
    parse_from::<C, _, _>(std::env::args_os())
}

/// [`parse`] over explicit arguments (the first is the program name).
pub fn parse_from<C, I, A>(args: I) -> (C, ArgMatches)
where
    C: Parser,
    I: IntoIterator<Item = A>,
    A: Into<std::ffi::OsString> + Clone,
{
    let exit = |e: clap::Error| -> ! {
        let _ = e.print();
        std::process::exit(if e.use_stderr() { EXIT_USAGE } else { 0 })
    };
    let matches = C::command()
        .try_get_matches_from(args)
        .unwrap_or_else(|e| exit(e));
    let cli = C::from_arg_matches(&matches).unwrap_or_else(|e| exit(e));
    (cli, matches)
}

/// The `--config` file given to this (sub)command, if it has such an argument and it was set.
pub fn config_path(matches: &ArgMatches) -> Option<PathBuf> {
    matches
        .try_get_one::<PathBuf>(CONFIG_ARG)
        .ok()
        .flatten()
        .cloned()
}

/// The settings of one (sub)command: its flags (`matches` are the matches of that command, e.g.
/// from `ArgMatches::subcommand`) merged over its `--config` file, merged over clap's defaults.
/// The `config` field itself is not carried into the result (see [`config_path`]).
pub fn resolve<T>(matches: &ArgMatches) -> Result<T, SettingsError>
where
    T: FromArgMatches + Args + Serialize + DeserializeOwned,
{
    let from_flags =
        T::from_arg_matches(matches).map_err(|e| SettingsError::Invalid(e.to_string()))?;
    let Some(path) = config_path(matches) else {
        return Ok(from_flags);
    };
    let text = std::fs::read_to_string(&path).map_err(|source| SettingsError::Read {
        path: path.clone(),
        source,
    })?;
    let file: toml::Table = text.parse().map_err(|source| SettingsError::Syntax {
        path: path.clone(),
        source,
    })?;
    let known = arg_ids::<T>();
    let mut merged = to_table(&from_flags)?;
    let mut from_file = Vec::new();
    for (key, value) in file {
        if !known.contains(&key) {
            return Err(SettingsError::UnknownKey {
                path,
                key,
                known: known.join(", "),
            });
        }
        let explicit = matches!(
            matches.value_source(&key),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if !explicit {
            merged.insert(key.clone(), value);
            from_file.push(key);
        }
    }
    match T::deserialize(toml::Value::Table(merged.clone())) {
        Ok(settings) => Ok(settings),
        Err(whole) => Err(name_bad_key::<T>(&path, &from_flags, &merged, &from_file)
            .unwrap_or_else(|| SettingsError::BadValue {
                path,
                key: from_file.join(", "),
                reason: whole.to_string(),
            })),
    }
}

/// Finds the first key taken from the file whose value alone fails to deserialise, for an error
/// that names it.
fn name_bad_key<T: Serialize + DeserializeOwned>(
    path: &Path,
    from_flags: &T,
    merged: &toml::Table,
    from_file: &[String],
) -> Option<SettingsError> {
    let base = to_table(from_flags).ok()?;
    from_file.iter().find_map(|key| {
        let mut one = base.clone();
        one.insert(key.clone(), merged.get(key)?.clone());
        T::deserialize(toml::Value::Table(one))
            .err()
            .map(|e| SettingsError::BadValue {
                path: path.to_path_buf(),
                key: key.clone(),
                reason: e.to_string(),
            })
    })
}

/// The TOML keys a settings struct accepts: its clap argument ids, without `config`.
pub fn arg_ids<T: Args>() -> Vec<String> {
    T::augment_args(Command::new("settings"))
        .get_arguments()
        .map(|a| a.get_id().as_str().to_string())
        .filter(|id| id != CONFIG_ARG && id != "help" && id != "version")
        .collect()
}

fn to_table<T: Serialize>(settings: &T) -> Result<toml::Table, SettingsError> {
    toml::Table::try_from(settings).map_err(|e| SettingsError::Invalid(e.to_string()))
}

/// The settings as TOML text, in the format [`resolve`] reads back.
pub fn to_toml<T: Serialize>(settings: &T) -> Result<String, SettingsError> {
    toml::to_string(settings).map_err(|e| SettingsError::Invalid(e.to_string()))
}

/// Saves the effective settings as TOML at `path`, atomically; `--config path` reproduces them.
pub fn save_effective<T: Serialize>(path: &Path, settings: &T) -> Result<(), SettingsError> {
    let text = format!(
        "# Effective settings (defaults < --config file < flags); pass with --config to rerun.\n{}",
        to_toml(settings)?
    );
    crate::fsutil::atomic_write(path, text.as_bytes()).map_err(|source| SettingsError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// For tests: every key `settings` serialises to must be a flag id, or a saved configuration
/// would not load back. Returns the offending keys.
pub fn check_keys<T: Args + Serialize>(settings: &T) -> Result<(), Vec<String>> {
    let known = arg_ids::<T>();
    let table = to_table(settings).map_err(|e| vec![e.to_string()])?;
    let bad: Vec<String> = table
        .keys()
        .filter(|k| !known.contains(k))
        .cloned()
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad)
    }
}

/// Implements `serde::Serialize` and `serde::Deserialize` for types with `Display` and
/// `FromStr`, so that a typed setting reads the same text on the command line and in a file.
#[macro_export]
macro_rules! serde_via_str {
    ($($ty:ty),+ $(,)?) => {$(
        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                let text = <::std::string::String as ::serde::Deserialize>::deserialize(d)?;
                text.parse().map_err(::serde::de::Error::custom)
            }
        }
    )+};
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use serde::Deserialize;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Mode {
        Fast,
        Exact,
    }
    impl std::fmt::Display for Mode {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(match self {
                Mode::Fast => "fast",
                Mode::Exact => "exact",
            })
        }
    }
    impl std::str::FromStr for Mode {
        type Err = String;
        fn from_str(s: &str) -> Result<Self, String> {
            match s {
                "fast" => Ok(Mode::Fast),
                "exact" => Ok(Mode::Exact),
                _ => Err(format!("unknown mode {s:?} (fast|exact)")),
            }
        }
    }
    crate::serde_via_str!(Mode);

    #[derive(Debug, Parser, Serialize, Deserialize)]
    struct Demo {
        #[arg(long)]
        #[serde(skip)]
        config: Option<PathBuf>,
        #[arg(long = "zstd-level", default_value_t = 1)]
        zstd_level: i32,
        #[arg(long, default_value = "fast")]
        mode: Mode,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        verbose: bool,
    }

    fn run(args: &[&str]) -> Result<Demo, SettingsError> {
        let matches = Demo::command().try_get_matches_from(args).unwrap();
        resolve::<Demo>(&matches)
    }

    fn file(text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        let p = path.to_string_lossy().into_owned();
        (dir, p)
    }

    #[test]
    fn defaults_then_file_then_flags() {
        let d = run(&["x"]).unwrap();
        assert_eq!(
            (d.zstd_level, d.mode, d.name.as_deref()),
            (1, Mode::Fast, None)
        );
        let (_dir, cfg) = file("zstd_level = 5\nmode = \"exact\"\nname = \"a\"\nverbose = true\n");
        let d = run(&["x", "--config", &cfg]).unwrap();
        assert_eq!(
            (d.zstd_level, d.mode, d.name.as_deref(), d.verbose),
            (5, Mode::Exact, Some("a"), true)
        );
        let d = run(&["x", "--config", &cfg, "--zstd-level", "1", "--mode", "fast"]).unwrap();
        assert_eq!(
            (d.zstd_level, d.mode, d.name.as_deref()),
            (1, Mode::Fast, Some("a"))
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let (_dir, cfg) = file("zstd-level = 5\n");
        let err = run(&["x", "--config", &cfg]).unwrap_err().to_string();
        assert!(
            err.contains("unknown key `zstd-level`") && err.contains("zstd_level"),
            "{err}"
        );
        let (_dir, cfg) = file("name = \"ok\"\nmode = \"slow\"\n");
        let err = run(&["x", "--config", &cfg]).unwrap_err().to_string();
        assert!(
            err.contains("`mode`") && err.contains("fast|exact"),
            "{err}"
        );
    }

    #[test]
    fn saved_settings_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let (_d, cfg) = file("mode = \"exact\"\n");
        let d = run(&["x", "--config", &cfg, "--name", "n"]).unwrap();
        check_keys(&d).unwrap();
        let saved = dir.path().join("effective.toml");
        save_effective(&saved, &d).unwrap();
        let again = run(&["x", "--config", saved.to_str().unwrap()]).unwrap();
        assert_eq!(format!("{again:?}"), format!("{d:?}"));
    }
}
