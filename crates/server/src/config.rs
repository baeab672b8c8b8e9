//! Configuration: defaults < TOML file (`--config`) < environment < command line.

use std::collections::BTreeMap;
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
    /// Threads that serve requests; `None`: see `Config::workers`.
    pub worker_threads: Option<usize>,
    /// Web origins whose pages may call the API (CORS); `*` for any. None by default: the
    /// server accepts any credentials, so any web page could otherwise use it.
    pub cors_origins: Vec<String>,
    /// The SQLite VFS the store's files go through; `None`: SQLite's own. Not a setting: tests
    /// inject disk faults through one (`store::faults`).
    pub store_vfs: Option<String>,
    /// Queues created or brought up to date at start (`declare`), in the order given.
    pub queues: Vec<QueueDeclaration>,
    /// The loop guard: a move task leaves a message already redriven this many times in its
    /// dead-letter queue; `None` (0 when configured): no limit.
    pub max_redrives: Option<u32>,
    /// The credentials file: when given, every API request must be signed by one of its keys
    /// and is that key's account's (`auth`).
    pub credentials: Option<PathBuf>,
    /// Listen on a non-loopback address without credentials, knowingly.
    pub allow_anonymous_network: bool,
    /// TLS on the listener: a PEM certificate chain and its PEM private key.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// When set, /metrics answers only requests carrying `Authorization: Bearer` this.
    pub metrics_token: Option<String>,
    /// A PostgreSQL URL: the record is kept there, shared by every node given the same one
    /// (docs/multi-node.md). `None`: SQLite in `data_dir` (or memory).
    pub store: Option<String>,
    /// This node's name in the lease; `None`: one is made up at start.
    pub node_id: Option<String>,
    /// Where other nodes forward requests to this one; `None`: from the bound address.
    pub node_url: Option<String>,
    /// How long a node's lease lasts without renewal: how soon another node takes over.
    pub lease_ttl_ms: u64,
    /// Connections open at once; beyond it new ones wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// How long a connection may sit idle, or take to send a request's head, in seconds.
    pub idle_timeout_s: u64,
    /// Headers a request may carry (431 beyond); `None`: hyper's 100.
    pub max_headers: Option<usize>,
}

/// Connections open at once, by default: 10,000 idle clients and room to spare.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

/// The lease's default ttl: a dead leader's queues are served again within about this.
pub const DEFAULT_LEASE_TTL_MS: u64 = 5_000;

/// One `[[queues]]` entry of the config file, or a name given by `--queue`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueDeclaration {
    pub name: String,
    /// Shorthand for RedrivePolicy's deadLetterTargetArn: a queue of the same account.
    #[serde(default)]
    pub dead_letter_queue: Option<String>,
    /// Shorthand for RedrivePolicy's maxReceiveCount.
    #[serde(default)]
    pub max_receive_count: Option<u32>,
    /// Any SQS attribute, as SetQueueAttributes takes it (a number or true/false may be
    /// written bare).
    #[serde(default, deserialize_with = "attribute_values")]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// SQS takes every attribute value as a string; TOML users write `VisibilityTimeout = 60`.
fn attribute_values<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Value {
        Text(String),
        Number(i64),
        Flag(bool),
    }
    let map = BTreeMap::<String, Value>::deserialize(d)?;
    Ok(map
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Text(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Flag(b) => b.to_string(),
            };
            (k, v)
        })
        .collect())
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
            worker_threads: None,
            cors_origins: Vec::new(),
            store_vfs: None,
            queues: Vec::new(),
            max_redrives: Some(engine::DEFAULT_MAX_REDRIVES),
            credentials: None,
            allow_anonymous_network: false,
            tls_cert: None,
            tls_key: None,
            metrics_token: None,
            store: None,
            node_id: None,
            node_url: None,
            lease_ttl_ms: DEFAULT_LEASE_TTL_MS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            idle_timeout_s: crate::http::IDLE_TIMEOUT_S,
            max_headers: None,
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

    /// Threads that serve requests: as configured, else one per core — less the one the
    /// durable store's writer keeps busy, since on two cores a second request thread beside
    /// it costs more in wake-ups and thread switches than it adds (docs/benchmarks.md).
    pub fn workers(&self, cores: usize) -> usize {
        // A PostgreSQL store's writer runs in PostgreSQL's processes, not in this one.
        let own_writer = !self.in_memory && self.store.is_none();
        self.worker_threads.unwrap_or(if own_writer { cores.saturating_sub(1) } else { cores }).max(1)
    }
}

/// Command line; every flag is also an environment variable.
#[derive(Debug, Parser)]
#[command(
    name = "redrive",
    version,
    about = "An SQS-compatible message queue server",
    long_about = "An SQS-compatible message queue server. With no command it runs the server; \
                  `redrive dlq …` works with dead-letter queues on a running one (docs/cli.md)."
)]
pub struct Args {
    /// `dlq`: the dead-letter command line. None: run the server.
    #[command(subcommand)]
    pub command: Option<crate::cli::Command>,
    /// TOML file with any of: bind, data_dir, in_memory, region, account_id, public_url, log,
    /// worker_threads, cors_origins, max_redrives, credentials, allow_anonymous_network,
    /// tls_cert, tls_key, metrics_token, store, node_id, node_url, lease_ttl, max_connections,
    /// idle_timeout, max_headers, and [[queues]] declarations (README: Configuration).
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
    /// Threads that serve requests (default: one per core, less one for a durable store's writer).
    #[arg(long, env = "REDRIVE_WORKER_THREADS", value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub worker_threads: Option<u16>,
    /// A web origin (e.g. http://localhost:3000) whose pages may call the API from a browser
    /// (CORS); repeat it, or give `*` for any. Off by default.
    #[arg(long = "cors-origin", env = "REDRIVE_CORS_ORIGINS", value_name = "ORIGIN", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// A queue to create at start with default attributes, if it does not exist; repeat it,
    /// or separate names with commas. A name also declared in the config file takes the
    /// file's declaration.
    #[arg(long = "queue", env = "REDRIVE_QUEUES", value_name = "NAME", value_delimiter = ',')]
    pub queues: Vec<String>,
    /// The loop guard: move tasks leave a message already redriven this many times in its
    /// dead-letter queue and count it as skipped (default 10; 0: no limit).
    #[arg(long, env = "REDRIVE_MAX_REDRIVES", value_name = "N")]
    pub max_redrives: Option<u32>,
    /// A TOML file of access keys ([[keys]] access_key_id, secret_access_key, account_id):
    /// every API request must then be signed (SigV4) by one of them (docs/security.md).
    #[arg(long, env = "REDRIVE_CREDENTIALS", value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// Listen on a non-loopback address without a credentials file: anyone who can reach it
    /// can read, change and delete every queue. Refused unless given.
    #[arg(long, env = "REDRIVE_ALLOW_ANONYMOUS_NETWORK")]
    pub allow_anonymous_network: bool,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "REDRIVE_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "REDRIVE_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Serve /metrics only to requests with `Authorization: Bearer TOKEN`.
    #[arg(long, env = "REDRIVE_METRICS_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Keep the record in PostgreSQL (postgres://USER:PASSWORD@HOST:PORT/DB): several nodes
    /// given the same database serve the same queues, one leading, the others forwarding to it
    /// (docs/multi-node.md).
    #[arg(long, env = "REDRIVE_STORE", value_name = "URL", hide_env_values = true)]
    pub store: Option<String>,
    /// This node's name among the nodes of one database (default: made up at start). Unique.
    #[arg(long, env = "REDRIVE_NODE_ID", value_name = "ID")]
    pub node_id: Option<String>,
    /// Where other nodes reach this one (default: http:// the bound address, or the address
    /// PostgreSQL sees this node connect from when bound to every interface).
    #[arg(long, env = "REDRIVE_NODE_URL", value_name = "URL")]
    pub node_url: Option<String>,
    /// How long the leader's lease lasts without renewal, in seconds: how soon another node
    /// takes over from one that died (default 5).
    #[arg(long, env = "REDRIVE_LEASE_TTL", value_name = "SECONDS")]
    pub lease_ttl: Option<f64>,
    /// Connections open at once (default 16384); beyond it new connections wait until one
    /// closes, and those open keep working. The file-descriptor limit is raised to fit.
    #[arg(long, env = "REDRIVE_MAX_CONNECTIONS", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: Option<u32>,
    /// Seconds a connection may sit idle between requests, or take to send a request's head
    /// (default 120): a client sending a byte at a time is cut off after it.
    #[arg(long, env = "REDRIVE_IDLE_TIMEOUT", value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout: Option<u64>,
    /// Headers a request may carry; more are answered 431 (default 100).
    #[arg(long, env = "REDRIVE_MAX_HEADERS", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_headers: Option<u32>,
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
    worker_threads: Option<u16>,
    cors_origins: Option<Vec<String>>,
    #[serde(default)]
    queues: Vec<QueueDeclaration>,
    max_redrives: Option<u32>,
    credentials: Option<PathBuf>,
    allow_anonymous_network: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    metrics_token: Option<String>,
    store: Option<String>,
    node_id: Option<String>,
    node_url: Option<String>,
    lease_ttl: Option<f64>,
    max_connections: Option<u32>,
    idle_timeout: Option<u64>,
    max_headers: Option<u32>,
}

impl Args {
    pub fn into_config(self) -> Result<Config, String> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let d = Config::default();
        let worker_threads = self.worker_threads.or(file.worker_threads);
        if worker_threads.is_some_and(|n| !(1..=1024).contains(&n)) {
            return Err("worker_threads must be between 1 and 1024".into());
        }
        let mut queues = file.queues;
        for (i, q) in queues.iter().enumerate() {
            if queues[..i].iter().any(|earlier| earlier.name == q.name) {
                return Err(format!("queue {} is declared twice in the config file", q.name));
            }
            if q.attributes.contains_key("RedrivePolicy")
                && (q.dead_letter_queue.is_some() || q.max_receive_count.is_some())
            {
                return Err(format!(
                    "queue {}: give either dead_letter_queue and max_receive_count or a RedrivePolicy attribute, not both",
                    q.name
                ));
            }
        }
        for name in self.queues.into_iter().filter(|n| !n.is_empty()) {
            if !queues.iter().any(|q| q.name == name) {
                queues.push(QueueDeclaration { name, ..QueueDeclaration::default() });
            }
        }
        let bind = self.bind.or(file.bind).unwrap_or(d.bind);
        let (tls_cert, tls_key) = (self.tls_cert.or(file.tls_cert), self.tls_key.or(file.tls_key));
        if tls_cert.is_some() != tls_key.is_some() {
            return Err("give both --tls-cert and --tls-key, or neither".into());
        }
        let credentials = self.credentials.or(file.credentials);
        let allow_anonymous_network = self.allow_anonymous_network || file.allow_anonymous_network.unwrap_or(false);
        if credentials.is_none() && !allow_anonymous_network && !is_loopback(&bind) {
            return Err(format!(
                "refusing to listen on {bind} without credentials: anyone who can reach it could read, change and \
                 delete every queue. Give --credentials FILE (docs/security.md), or --allow-anonymous-network to \
                 accept that."
            ));
        }
        let store = self.store.or(file.store).filter(|s| !s.is_empty());
        if let Some(url) = &store {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err("--store takes a PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DATABASE)".into());
            }
            if self.in_memory || file.in_memory.unwrap_or(false) {
                return Err("give either --store or --in-memory, not both".into());
            }
            if tls_cert.is_some() {
                return Err(
                    "--tls-cert is not supported with a PostgreSQL store: terminate TLS at the load balancer in \
                            front of the nodes (docs/multi-node.md)"
                        .into(),
                );
            }
        }
        let lease_ttl_ms = match self.lease_ttl.or(file.lease_ttl) {
            Some(s) if (2.0..=600.0).contains(&s) => (s * 1000.0) as u64,
            Some(s) => return Err(format!("--lease-ttl must be between 2 and 600 seconds, not {s}")),
            None => DEFAULT_LEASE_TTL_MS,
        };
        let node_url = self.node_url.or(file.node_url).map(|u| u.trim_end_matches('/').to_string());
        if let Some(url) = &node_url {
            if !url.starts_with("http://") {
                return Err(format!("--node-url must be an http:// URL, not {url}"));
            }
        }
        if file.max_connections == Some(0) || file.idle_timeout == Some(0) || file.max_headers == Some(0) {
            return Err("max_connections, idle_timeout and max_headers must be at least 1".into());
        }
        Ok(Config {
            max_connections: self.max_connections.or(file.max_connections).map_or(d.max_connections, |n| n as usize),
            idle_timeout_s: self.idle_timeout.or(file.idle_timeout).unwrap_or(d.idle_timeout_s),
            max_headers: self.max_headers.or(file.max_headers).map(|n| n as usize),
            store,
            node_id: self.node_id.or(file.node_id).filter(|s| !s.is_empty()),
            node_url,
            lease_ttl_ms,
            bind,
            data_dir: self.data_dir.or(file.data_dir).unwrap_or(d.data_dir),
            in_memory: self.in_memory || file.in_memory.unwrap_or(false),
            region: self.region.or(file.region).unwrap_or(d.region),
            account_id: self.account_id.or(file.account_id).unwrap_or(d.account_id),
            public_url: self.public_url.or(file.public_url).map(|u| u.trim_end_matches('/').to_string()),
            manual_clock: self.manual_clock,
            log: self.log.or(file.log).unwrap_or(d.log),
            worker_threads: worker_threads.map(usize::from),
            cors_origins: if self.cors_origins.is_empty() {
                file.cors_origins.unwrap_or_default()
            } else {
                self.cors_origins
            },
            store_vfs: None,
            queues,
            credentials,
            allow_anonymous_network,
            tls_cert,
            tls_key,
            metrics_token: self.metrics_token.or(file.metrics_token).filter(|t| !t.is_empty()),
            max_redrives: match self.max_redrives.or(file.max_redrives) {
                Some(0) => None,
                Some(n) => Some(n),
                None => d.max_redrives,
            },
        })
    }
}

/// Whether a bind address only takes connections from this machine: a loopback IP, or
/// `localhost`.
pub fn is_loopback(bind: &str) -> bool {
    match bind.parse::<std::net::SocketAddr>() {
        Ok(addr) => addr.ip().is_loopback(),
        Err(_) => bind.rsplit_once(':').is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost")),
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
        std::fs::write(&file, "worker_threads = 0\n").unwrap();
        assert!(Args::parse_from(["redrive", "--config", file.to_str().unwrap()]).into_config().is_err());
        std::fs::write(&file, "worker_threads = 3\n").unwrap();
        let c = Args::parse_from(["redrive", "--config", file.to_str().unwrap()]).into_config().unwrap();
        assert_eq!(c.worker_threads, Some(3));
        assert!(Args::try_parse_from(["redrive", "--worker-threads", "0"]).is_err());
        std::fs::write(&file, "cors_origins = [\"http://a.test\"]\n").unwrap();
        let c = Args::parse_from(["redrive", "--config", file.to_str().unwrap()]).into_config().unwrap();
        assert_eq!(c.cors_origins, ["http://a.test"]);
        let c = Args::parse_from(["redrive", "--cors-origin", "http://b.test,http://c.test"]).into_config().unwrap();
        assert_eq!(c.cors_origins, ["http://b.test", "http://c.test"]);
        assert!(Config::default().cors_origins.is_empty(), "off by default");
    }

    #[test]
    fn a_network_address_needs_credentials_or_the_anonymous_flag() {
        let config = |args: &[&str]| Args::parse_from([&["redrive"], args].concat()).into_config();
        let refused = config(&["--bind", "0.0.0.0:9324"]).unwrap_err();
        assert!(refused.starts_with("refusing to listen on 0.0.0.0:9324 without credentials"), "{refused}");
        assert!(config(&["--bind", "192.168.1.5:9324"]).is_err());
        assert!(config(&["--bind", "[::]:9324"]).is_err());
        assert!(config(&["--bind", "0.0.0.0:9324", "--allow-anonymous-network"]).is_ok());
        assert!(config(&["--bind", "0.0.0.0:9324", "--credentials", "keys.toml"]).is_ok());
        for loopback in ["127.0.0.1:9324", "[::1]:9324", "localhost:9324", "127.0.0.2:1"] {
            assert!(config(&["--bind", loopback]).is_ok(), "{loopback}");
        }
    }

    #[test]
    fn queues_come_from_the_file_and_the_queue_flag_and_a_file_declaration_wins() {
        let dir = std::env::temp_dir().join(format!("redrive-config-queues-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        let path = file.to_str().unwrap();
        std::fs::write(
            &file,
            "[[queues]]\nname = \"a\"\nmax_receive_count = 3\ndead_letter_queue = \"b\"\n\
             attributes = { VisibilityTimeout = 60, ContentBasedDeduplication = true, Policy = \"\" }\n\
             tags = { team = \"x\" }\n",
        )
        .unwrap();
        let c =
            Args::parse_from(["redrive", "--config", path, "--queue", "a,c", "--queue", "d"]).into_config().unwrap();
        let names: Vec<&str> = c.queues.iter().map(|q| q.name.as_str()).collect();
        assert_eq!(names, ["a", "c", "d"]);
        let a = &c.queues[0];
        assert_eq!((a.dead_letter_queue.as_deref(), a.max_receive_count), (Some("b"), Some(3)));
        assert_eq!(a.attributes["VisibilityTimeout"], "60");
        assert_eq!(a.attributes["ContentBasedDeduplication"], "true");
        assert_eq!(a.tags["team"], "x");
        assert_eq!(c.queues[1], QueueDeclaration { name: "c".into(), ..QueueDeclaration::default() });

        std::fs::write(&file, "[[queues]]\nname = \"a\"\n[[queues]]\nname = \"a\"\n").unwrap();
        let twice = Args::parse_from(["redrive", "--config", path]).into_config().unwrap_err();
        assert_eq!(twice, "queue a is declared twice in the config file");
        std::fs::write(
            &file,
            "[[queues]]\nname = \"a\"\ndead_letter_queue = \"b\"\nattributes = { RedrivePolicy = \"{}\" }\n",
        )
        .unwrap();
        let both = Args::parse_from(["redrive", "--config", path]).into_config().unwrap_err();
        assert!(both.starts_with("queue a: give either dead_letter_queue"), "{both}");
        std::fs::write(&file, "[[queues]]\nname = \"a\"\ncolour = \"red\"\n").unwrap();
        assert!(Args::parse_from(["redrive", "--config", path]).into_config().is_err(), "unknown keys are refused");
    }

    #[test]
    fn a_durable_server_leaves_a_core_to_the_store_writer() {
        let durable = Config::default();
        assert_eq!((durable.workers(1), durable.workers(2), durable.workers(8)), (1, 1, 7));
        let memory = Config { in_memory: true, ..Config::default() };
        assert_eq!((memory.workers(1), memory.workers(2)), (1, 2));
        let set = Config { worker_threads: Some(4), ..Config::default() };
        assert_eq!(set.workers(2), 4);
    }
}
