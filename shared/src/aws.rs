//! AWS SDK configuration, loaded once per cold start.

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::SharedCredentialsProvider;

/// The full provider chain (profiles, SSO, IMDS...): for `acw` and the local tools, which
/// run on an engineer's machine.
pub async fn load_config() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// What a Lambda function needs and nothing more: the region and the role's credentials from
/// the variables Lambda sets, and `AWS_ENDPOINT_URL` when present (moto on the local stack).
/// Profile files, SSO and the other providers of the default chain are neither read at init
/// nor linked into the function.
pub fn lambda_config() -> anyhow::Result<SdkConfig> {
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .map_err(|_| anyhow::anyhow!("AWS_REGION is not set (Lambda sets it)"))?;
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        // Said here rather than left to the behavior version's defaults.
        .retry_config(RetryConfig::standard())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ));
    if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(endpoint);
    }
    Ok(config.build())
}
