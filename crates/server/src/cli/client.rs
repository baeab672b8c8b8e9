//! The two ways the command line talks to a server: the SQS SDK (which works against SQS
//! itself) and the Redrive extension's JSON calls (`Redrive_v1.<Op>`, docs/extension-api.md).
//! Credentials and region come from the usual AWS chain; for an endpoint that is not AWS's,
//! from the environment and the profile only (no instance metadata lookups), and dummy ones
//! when there are none: Redrive accepts any.

use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::meta::region::RegionProviderChain;
use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_sqs::config::Region;
use engine::clock::{Clock, SystemClock};
use serde_json::Value;

use super::args::Global;
use super::error::{error_chain, CliError};

/// What every command works with.
pub struct Clients {
    pub sqs: aws_sdk_sqs::Client,
    pub extension: Extension,
    /// Print JSON rather than tables.
    pub json: bool,
}

impl Clients {
    pub async fn new(global: &Global) -> Result<Clients, CliError> {
        let endpoint = global.endpoint_url.trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&endpoint)
            .map_err(|e| CliError::usage(format!("--endpoint-url {endpoint}: not a URL ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(CliError::usage(format!("--endpoint-url {endpoint}: give http(s)://host[:port]")));
        }
        let aws = aws_region_of(parsed.host_str().unwrap_or_default());
        let sdk = sdk_config(global, &endpoint, aws.as_deref()).await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let signer = Signer {
            credentials: sdk.credentials_provider(),
            region: sdk.region().map_or_else(|| "us-east-1".to_string(), |r| r.to_string()),
        };
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            // A count or a dry run scans the whole queue: seconds for a million messages.
            .timeout(std::time::Duration::from_secs(600))
            .build()
            .map_err(|e| CliError::Transport(format!("cannot build an HTTP client: {e}")))?;
        Ok(Clients { sqs, extension: Extension { http, endpoint, signer }, json: global.json })
    }
}

/// `Some(region)` for an SQS endpoint of AWS (`sqs.REGION.amazonaws.com`), `Some("")` for
/// another amazonaws.com host, `None` for anything else.
fn aws_region_of(host: &str) -> Option<String> {
    let rest = host.strip_suffix(".amazonaws.com").or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let mut parts = rest.split('.');
    Some(match (parts.next(), parts.next()) {
        (Some("sqs"), Some(region)) => region.to_string(),
        _ => String::new(),
    })
}

async fn sdk_config(global: &Global, endpoint: &str, aws_region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).endpoint_url(endpoint);
    if let Some(profile) = &global.profile {
        loader = loader.profile_name(profile);
    }
    let flag = global.region.clone().map(Region::new);
    match aws_region {
        // AWS itself: its whole credential and region chain.
        Some(from_host) => {
            let fallback = (!from_host.is_empty()).then(|| Region::new(from_host.to_string()));
            let region = RegionProviderChain::first_try(flag).or_else(fallback).or_default_provider();
            loader.region(region).load().await
        }
        None => {
            let mut profile_credentials = aws_config::profile::ProfileFileCredentialsProvider::builder();
            let mut profile_region = aws_config::profile::ProfileFileRegionProvider::builder();
            if let Some(p) = &global.profile {
                profile_credentials = profile_credentials.profile_name(p);
                profile_region = profile_region.profile_name(p);
            }
            let credentials = CredentialsProviderChain::first_try(
                "Environment",
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            )
            .or_else("Profile", profile_credentials.build())
            .or_else("Redrive", Credentials::new("redrive", "redrive", None, None, "redrive-dummy"));
            let region = RegionProviderChain::first_try(flag)
                .or_else(aws_config::environment::EnvironmentVariableRegionProvider::new())
                .or_else(profile_region.build())
                .or_else(Region::new("us-east-1"));
            loader.region(region).credentials_provider(credentials).load().await
        }
    }
}

/// The extension's JSON calls, built in `call` and signed (SigV4, service `sqs`) as the SDK
/// signs its calls: a Redrive with a credentials file checks the signature, and any Redrive
/// takes the access key as who started a redrive (the history's StartedBy).
pub struct Extension {
    http: reqwest::Client,
    endpoint: String,
    signer: Signer,
}

struct Signer {
    credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    region: String,
}

impl Signer {
    /// The headers that sign this request (Authorization, X-Amz-Date, …); none without
    /// credentials, which Redrive accepts.
    async fn headers(&self, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<(String, String)> {
        use aws_credential_types::provider::ProvideCredentials;
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let Some(provider) = &self.credentials else { return Vec::new() };
        let Ok(credentials) = provider.provide_credentials().await else { return Vec::new() };
        let identity = credentials.into();
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_millis(SystemClock.now());
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("sqs")
            .time(now)
            .settings(SigningSettings::default())
            .build();
        let Ok(params) = params else { return Vec::new() };
        let signed = SignableRequest::new("POST", url, headers.iter().copied(), SignableBody::Bytes(body))
            .and_then(|request| sign(request, &params.into()));
        match signed {
            Ok(output) => {
                let (instructions, _) = output.into_parts();
                instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect()
            }
            Err(_) => Vec::new(),
        }
    }
}

impl Extension {
    /// `Redrive_v1.<operation>` with `input`; the output, or the error the server answered.
    pub async fn call(&self, operation: &str, input: &Value) -> Result<Value, CliError> {
        let url = format!("{}/", self.endpoint);
        let target = format!("Redrive_v1.{operation}");
        let body = input.to_string();
        let headers = [("content-type", "application/x-amz-json-1.0"), ("x-amz-target", target.as_str())];
        let mut request = self.http.post(&url).body(body.clone());
        for (k, v) in headers {
            request = request.header(k, v);
        }
        for (k, v) in self.signer.headers(&url, &headers, body.as_bytes()).await {
            request = request.header(k, v);
        }
        let response = request
            .send()
            .await
            .map_err(|e| CliError::Transport(format!("cannot reach {}: {}", self.endpoint, error_chain(&e))))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| CliError::Transport(format!("{}: the answer was cut off: {e}", self.endpoint)))?;
        let not_redrive = || CliError::NotRedrive { operation: operation.to_string(), endpoint: self.endpoint.clone() };
        // A server that is not Redrive answers in XML, HTML or nothing at all.
        let value: Value = serde_json::from_str(&text).map_err(|_| not_redrive())?;
        if status.is_success() {
            return if value.is_object() { Ok(value) } else { Err(not_redrive()) };
        }
        let kind = value.get("__type").and_then(Value::as_str).unwrap_or_default();
        let code = kind.rsplit('#').next().unwrap_or(kind);
        // An error without an AWS code, or the answer to an action the server does not know.
        // (An authentication refusal is a real answer: a Redrive with a credentials file
        // refuses an unknown key as SQS does.)
        if code.is_empty() || code.starts_with("UnknownOperation") || code.starts_with("InvalidAction") {
            return Err(not_redrive());
        }
        let message = value.get("message").or_else(|| value.get("Message")).and_then(Value::as_str);
        Err(CliError::Api {
            code: code.trim_end_matches("Exception").to_string(),
            message: message.unwrap_or("(no message)").to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aws_endpoint_is_known_by_its_host() {
        assert_eq!(aws_region_of("sqs.eu-west-1.amazonaws.com").as_deref(), Some("eu-west-1"));
        assert_eq!(aws_region_of("vpce-1.sqs.amazonaws.com").as_deref(), Some(""));
        assert_eq!(aws_region_of("127.0.0.1"), None);
        assert_eq!(aws_region_of("redrive.internal"), None);
    }
}
