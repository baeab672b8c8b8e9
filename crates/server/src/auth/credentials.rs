//! The credentials file (`--credentials`): which access keys the server knows, their secrets,
//! and the account each belongs to.
//!
//! ```toml
//! [[keys]]
//! access_key_id = "AKIAEXAMPLEONE000001"
//! secret_access_key = "…"
//! account_id = "111111111111"
//! ```

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    keys: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    access_key_id: String,
    secret_access_key: String,
    account_id: String,
}

/// One known key.
pub struct Key {
    secret: String,
    pub account: String,
    /// What the key's requests are known by (SenderId): stable, derived from the key, never
    /// the access key id itself (as AWS shows `AIDA…`).
    pub principal: String,
}

impl Key {
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("Key").field("account", &self.account).field("principal", &self.principal).finish()
    }
}

/// The keys of a credentials file, by access key id.
#[derive(Debug, Default)]
pub struct Credentials {
    keys: HashMap<String, Key>,
}

impl Credentials {
    /// Read and check a credentials file; the error names the file and the entry.
    pub fn load(path: &Path) -> Result<Credentials, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Credentials::parse(&text).map_err(|e| format!("credentials file {}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Credentials, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        if file.keys.is_empty() {
            return Err("no [[keys]]: give at least one access key".into());
        }
        let mut keys = HashMap::new();
        for (i, e) in file.keys.into_iter().enumerate() {
            let at = format!("key {} ({})", i + 1, e.access_key_id);
            if !(16..=128).contains(&e.access_key_id.len())
                || !e.access_key_id.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(format!("{at}: access_key_id must be 16 to 128 letters and digits"));
            }
            if e.secret_access_key.len() < 16 {
                return Err(format!("{at}: secret_access_key must be at least 16 characters"));
            }
            if e.account_id.len() != 12 || !e.account_id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{at}: account_id must be 12 digits"));
            }
            let principal = principal_of(&e.access_key_id);
            let key = Key { secret: e.secret_access_key, account: e.account_id, principal };
            if keys.insert(e.access_key_id, key).is_some() {
                return Err(format!("{at}: the access key is listed twice"));
            }
        }
        Ok(Credentials { keys })
    }

    pub fn get(&self, access_key: &str) -> Option<&Key> {
        self.keys.get(access_key)
    }
}

/// `AIDA` and 17 characters of the key's SHA-256: the shape of an AWS principal id.
fn principal_of(access_key: &str) -> String {
    let digest = hex::encode_upper(Sha256::digest(access_key.as_bytes()));
    format!("AIDA{}", &digest[..17])
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"
        [[keys]]
        access_key_id = "AKIAEXAMPLEONE000001"
        secret_access_key = "secret-one-0123456789"
        account_id = "111111111111"
    "#;

    #[test]
    fn a_file_gives_each_key_its_account_and_a_principal_that_is_not_the_key() {
        let c = Credentials::parse(ONE).unwrap();
        let key = c.get("AKIAEXAMPLEONE000001").unwrap();
        assert_eq!(key.account, "111111111111");
        assert!(key.principal.starts_with("AIDA") && key.principal.len() == 21);
        assert!(!key.principal.contains("AKIAEXAMPLEONE000001"));
        assert_eq!(principal_of("AKIAEXAMPLEONE000001"), key.principal, "stable");
        assert!(c.get("AKIAUNKNOWN000000001").is_none());
        assert!(!format!("{key:?}").contains("secret-one"), "never printed");
    }

    #[test]
    fn bad_files_say_which_entry_and_why() {
        let bad = |text: &str| Credentials::parse(text).err().unwrap_or_default();
        assert_eq!(bad(""), "no [[keys]]: give at least one access key");
        assert!(bad(&ONE.replace("111111111111", "1111")).ends_with("account_id must be 12 digits"));
        assert!(bad(&ONE.replace("secret-one-0123456789", "short")).contains("at least 16 characters"));
        assert!(bad(&format!("{ONE}{ONE}")).ends_with("the access key is listed twice"));
        assert!(bad(&ONE.replace("account_id", "acount_id")).contains("unknown field"));
    }
}
