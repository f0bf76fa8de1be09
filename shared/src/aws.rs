//! AWS SDK configuration, loaded once per cold start.

/// Loads the SDK configuration from the usual AWS environment (region, credentials and
/// `AWS_ENDPOINT_URL`, which points the SDKs at moto on the local stack).
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
