//! AWS: the HTTPS client and the credentials every AWS SDK client of vitals is made with
//! (SNS for notifications, CloudWatch as a source). Credentials are static keys when given,
//! else the SDK's standard chain (environment, profile, web identity, ECS, IMDS), resolved
//! lazily on the first call; a role is assumed through STS with those as the base. Nothing
//! here logs or prints a credential.

use std::sync::{Arc, LazyLock};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use tokio::sync::OnceCell;

/// The STS session name of an assumed role.
const SESSION_NAME: &str = "vitals";

/// What an AWS SDK client of vitals is made from: its HTTPS client, region, endpoint and
/// credentials (static keys, a profile, the standard chain, and a role to assume with them).
pub struct AwsSetup {
    /// The HTTPS client ([`https_client`]).
    pub http: SharedHttpClient,
    /// The region, when known before the first call.
    pub region: Option<Region>,
    /// An endpoint to call instead of AWS's (VPC endpoints, tests).
    pub endpoint: Option<String>,
    /// Static keys; `None` resolves the standard chain.
    pub static_keys: Option<Credentials>,
    /// A named profile of the shared config and credentials files.
    pub profile: Option<String>,
    /// A role to assume (STS AssumeRole) with the credentials found.
    pub role_arn: Option<String>,
}

/// One HTTPS client (rustls with ring, the platform's roots) for every AWS client of vitals:
/// connections are pooled across them.
static HTTP: LazyLock<SharedHttpClient> = LazyLock::new(|| {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
});

/// The shared HTTPS client.
pub fn https_client() -> SharedHttpClient {
    HTTP.clone()
}

impl AwsSetup {
    /// The standard credential chain (and `role_arn` assumed with it) in `region`, calling
    /// `endpoint` when given.
    pub fn chain(region: &str, endpoint: Option<String>, role_arn: Option<String>) -> Self {
        AwsSetup {
            http: https_client(),
            region: Some(Region::new(region.to_string())),
            endpoint,
            static_keys: None,
            profile: None,
            role_arn,
        }
    }

    /// The shared config: the given region, profile and static keys, the rest from the
    /// standard chains.
    pub async fn sdk_config(&self) -> SdkConfig {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).http_client(self.http.clone());
        if let Some(r) = &self.region {
            loader = loader.region(r.clone());
        }
        if let Some(p) = &self.profile {
            loader = loader.profile_name(p);
        }
        if let Some(c) = &self.static_keys {
            loader = loader.credentials_provider(c.clone());
        }
        loader.load().await
    }

    /// The credentials to sign with: the config's, or the role assumed with them.
    pub async fn credentials(&self, sdk: &SdkConfig) -> Option<SharedCredentialsProvider> {
        match &self.role_arn {
            Some(role) => Some(SharedCredentialsProvider::new(
                aws_config::sts::AssumeRoleProvider::builder(role)
                    .session_name(SESSION_NAME)
                    .configure(sdk)
                    .build()
                    .await,
            )),
            None => sdk.credentials_provider(),
        }
    }

    /// The credentials provider for a client built now: the static keys as they are, else
    /// one that resolves the chain (and the role) on first use and keeps it.
    pub fn provider(self: &Arc<Self>) -> SharedCredentialsProvider {
        if let (Some(keys), None) = (&self.static_keys, &self.role_arn) {
            return SharedCredentialsProvider::new(keys.clone());
        }
        let setup = self.clone();
        let resolved: Arc<OnceCell<Option<SharedCredentialsProvider>>> = Arc::default();
        SharedCredentialsProvider::new(aws_credential_types::credential_fn::provide_credentials_fn(
            move || {
                let (setup, resolved) = (setup.clone(), resolved.clone());
                async move {
                    let provider = resolved
                        .get_or_init(|| async {
                            let sdk = setup.sdk_config().await;
                            setup.credentials(&sdk).await
                        })
                        .await;
                    match provider {
                        Some(p) => p.provide_credentials().await,
                        None => Err(CredentialsError::not_loaded(
                            "no AWS credentials found: set keys in the configuration (SNS: sigv4.access_key/secret_key) or the environment (AWS_ACCESS_KEY_ID), a profile, a web identity token or an instance or task role",
                        )),
                    }
                }
            },
        ))
    }
}
