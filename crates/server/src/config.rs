//! Configuration: defaults < TOML file (`--config`) < environment < command line.

use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub bind: String,
    pub data_dir: PathBuf,
    pub in_memory: bool,
    pub region: String,
    pub account_id: String,
    /// Base of queue URLs; `None` takes it from each request's Host header.
    pub public_url: Option<String>,
    /// Time moves only through `POST /_redrive/clock/advance?ms=N` (tests).
    pub manual_clock: bool,
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:9324".into(),
            data_dir: PathBuf::from("redrive-data"),
            in_memory: false,
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            public_url: None,
            manual_clock: false,
            log: "info".into(),
        }
    }
}

impl Config {
    /// In memory, on an ephemeral loopback port, with a manual clock.
    pub fn for_tests() -> Self {
        Config {
            bind: "127.0.0.1:0".into(),
            in_memory: true,
            manual_clock: true,
            log: "warn".into(),
            ..Config::default()
        }
    }
}

/// Command line; every flag is also an environment variable.
#[derive(Debug, Parser)]
#[command(name = "redrive", version, about = "An SQS-compatible message queue server")]
pub struct Args {
    /// TOML file with any of: bind, data_dir, in_memory, region, account_id, public_url, log.
    #[arg(long, env = "REDRIVE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "REDRIVE_BIND", value_name = "ADDR:PORT")]
    pub bind: Option<String>,
    /// Where the durable store keeps its files.
    #[arg(long, env = "REDRIVE_DATA_DIR", value_name = "PATH")]
    pub data_dir: Option<PathBuf>,
    /// Keep everything in memory; nothing is written to disk.
    #[arg(long, env = "REDRIVE_IN_MEMORY")]
    pub in_memory: bool,
    #[arg(long, env = "REDRIVE_REGION")]
    pub region: Option<String>,
    #[arg(long, env = "REDRIVE_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// Base of queue URLs (default: from the request's Host header).
    #[arg(long, env = "REDRIVE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Log filter, e.g. info or redrive=debug.
    #[arg(long, env = "REDRIVE_LOG")]
    pub log: Option<String>,
    /// For tests: time advances only through POST /_redrive/clock/advance?ms=N.
    #[arg(long, env = "REDRIVE_MANUAL_CLOCK", hide = true)]
    pub manual_clock: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<String>,
    data_dir: Option<PathBuf>,
    in_memory: Option<bool>,
    region: Option<String>,
    account_id: Option<String>,
    public_url: Option<String>,
    log: Option<String>,
}

impl Args {
    pub fn into_config(self) -> Result<Config, String> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let d = Config::default();
        Ok(Config {
            bind: self.bind.or(file.bind).unwrap_or(d.bind),
            data_dir: self.data_dir.or(file.data_dir).unwrap_or(d.data_dir),
            in_memory: self.in_memory || file.in_memory.unwrap_or(false),
            region: self.region.or(file.region).unwrap_or(d.region),
            account_id: self.account_id.or(file.account_id).unwrap_or(d.account_id),
            public_url: self.public_url.or(file.public_url).map(|u| u.trim_end_matches('/').to_string()),
            manual_clock: self.manual_clock,
            log: self.log.or(file.log).unwrap_or(d.log),
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("invalid config file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_beats_file_beats_defaults() {
        let dir = std::env::temp_dir().join(format!("redrive-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "region = \"eu-west-1\"\nbind = \"127.0.0.1:1\"\n").unwrap();
        let args = Args::parse_from(["redrive", "--config", file.to_str().unwrap(), "--bind", "127.0.0.1:2"]);
        let c = args.into_config().unwrap();
        assert_eq!(c.bind, "127.0.0.1:2");
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.account_id, "000000000000");
        std::fs::write(&file, "nope = 1\n").unwrap();
        assert!(Args::parse_from(["redrive", "--config", file.to_str().unwrap()]).into_config().is_err());
    }
}
