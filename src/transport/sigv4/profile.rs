//! The AWS shared credentials and config files (`~/.aws/credentials`, `~/.aws/config`, or
//! `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE`), read as the AWS SDKs read them:
//! `[name]` sections in the credentials file, `[profile name]` (and `[default]`) in the
//! config file, `key = value` properties, whole-line `#` and `;` comments, and a comment
//! after a value when whitespace precedes it. Indented lines continue the property above
//! (the nested `s3 =` style); promrw needs none of those values, so they are skipped.
//!
//! This is AWS's own small format rather than a generic INI (its `profile ` prefix and its
//! comment rules are its own), so it is parsed here, in a few lines, and tested below.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The properties of each profile of one file.
type Profiles = HashMap<String, HashMap<String, String>>;

/// Both shared files, as read when the sender starts. A missing file is an empty one.
#[derive(Debug, Default)]
pub struct SharedFiles {
    credentials: Profiles,
    config: Profiles,
    credentials_path: PathBuf,
    config_path: PathBuf,
}

impl SharedFiles {
    /// Reads the two files (a missing one counts as empty; an unreadable one is an error
    /// naming it).
    pub fn load(credentials_path: PathBuf, config_path: PathBuf) -> Result<SharedFiles, String> {
        let credentials = read(&credentials_path)?
            .map(|text| parse(&text, false))
            .unwrap_or_default();
        let config = read(&config_path)?
            .map(|text| parse(&text, true))
            .unwrap_or_default();
        Ok(SharedFiles {
            credentials,
            config,
            credentials_path,
            config_path,
        })
    }

    /// Whether either file has the profile.
    pub fn has_profile(&self, name: &str) -> bool {
        self.credentials.contains_key(name) || self.config.contains_key(name)
    }

    /// A property of a profile: the credentials file's value, else the config file's.
    pub fn get(&self, profile: &str, key: &str) -> Option<&str> {
        [&self.credentials, &self.config]
            .into_iter()
            .filter_map(|profiles| profiles.get(profile)?.get(key))
            .map(String::as_str)
            .find(|value| !value.is_empty())
    }

    /// The two files' paths, for error messages.
    pub fn describe(&self) -> String {
        format!(
            "{} or {}",
            self.credentials_path.display(),
            self.config_path.display()
        )
    }
}

/// The file's text, `None` when it does not exist.
fn read(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// The profiles of one file. In the config file (`config_file`), sections other than
/// `[default]` must be `[profile name]`; other kinds (`[sso-session x]`, `[services x]`) are
/// skipped.
fn parse(text: &str, config_file: bool) -> Profiles {
    let mut profiles = Profiles::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            // A continuation of the property above, or a nested sub-property.
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(inner) = line.strip_prefix('[') {
            let name = inner.split(']').next().unwrap_or("").trim();
            current = section_profile(name, config_file);
            if let Some(name) = &current {
                profiles.entry(name.clone()).or_default();
            }
            continue;
        }
        let (Some(profile), Some((key, value))) = (&current, line.split_once('=')) else {
            continue;
        };
        let value = strip_comment(value.trim());
        profiles
            .entry(profile.clone())
            .or_default()
            .insert(key.trim().to_ascii_lowercase(), value.to_string());
    }
    profiles
}

/// The profile a section header names, if it names one.
fn section_profile(name: &str, config_file: bool) -> Option<String> {
    if !config_file || name == "default" {
        return Some(name.to_string());
    }
    let rest = name.strip_prefix("profile")?;
    rest.starts_with([' ', '\t'])
        .then(|| rest.trim().to_string())
        .filter(|name| !name.is_empty())
}

/// A value without a trailing comment (`#` or `;` after whitespace).
fn strip_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if (*b == b'#' || *b == b';') && i > 0 && bytes[i - 1].is_ascii_whitespace() {
            return value[..i].trim_end();
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_files_are_read_with_their_section_rules() {
        let credentials = parse(
            "# comment\n[default]\naws_access_key_id = AKID1\naws_secret_access_key=SECRET1 ; note\n\n[team]\nAWS_ACCESS_KEY_ID = AKID2\n",
            false,
        );
        assert_eq!(credentials["default"]["aws_access_key_id"], "AKID1");
        assert_eq!(credentials["default"]["aws_secret_access_key"], "SECRET1");
        assert_eq!(credentials["team"]["aws_access_key_id"], "AKID2");
        let config = parse(
            "[default]\nregion = eu-west-1\n[profile team]\nregion=us-west-2\ns3 =\n  max_concurrent_requests = 10\nrole_arn = arn:aws:iam::1:role/r\n[team]\nregion = ignored\n[sso-session x]\nsso_region = x\n",
            true,
        );
        assert_eq!(config["default"]["region"], "eu-west-1");
        assert_eq!(config["team"]["region"], "us-west-2");
        assert_eq!(config["team"]["role_arn"], "arn:aws:iam::1:role/r");
        assert!(!config["team"].contains_key("max_concurrent_requests"));
        assert_eq!(config.len(), 2, "{config:?}");
    }

    #[test]
    fn values_keep_hashes_without_whitespace_before_them() {
        assert_eq!(strip_comment("abc#def"), "abc#def");
        assert_eq!(strip_comment("abc #def"), "abc");
        assert_eq!(strip_comment("abc\t; x"), "abc");
    }
}
