//! Reading a batch of tenants' usages ([`UsageApi`], with
//! [`crate::testing::FakeUsages`] in tests): a batch refused as a whole (a tenant gone) is
//! read tenant by tenant, so that one tenant does not fail the other 99; a tenant left out
//! of an answer is a failure of its own, never "no usage".

use std::future::Future;

use crate::acronis::models::TenantUsages;
use crate::acronis::{AcronisClient, AcronisError};

/// Acronis' usage reads (`GET /tenants/usages`, up to 100 tenants a call).
pub trait UsageApi: Send + Sync {
    fn usages(
        &self,
        tenant_ids: &[String],
    ) -> impl Future<Output = Result<Vec<TenantUsages>, AcronisError>> + Send;
}

impl UsageApi for AcronisClient {
    async fn usages(&self, tenant_ids: &[String]) -> Result<Vec<TenantUsages>, AcronisError> {
        AcronisClient::usages(self, tenant_ids).await
    }
}

/// Why a tenant asked for and missing from the usage answer was not pushed.
pub const LEFT_OUT: &str = "Acronis' usage answer left this tenant out";

/// A tenant whose usage could not be read: its id, why, and whether that is transient.
pub type UnreadTenant = (String, String, bool);

/// The usages of `chunk`, and the tenants that could not be read.
pub async fn read_usages(
    api: &impl UsageApi,
    chunk: &[String],
) -> (Vec<TenantUsages>, Vec<UnreadTenant>) {
    match api.usages(chunk).await {
        // A tenant asked for and left out of the answer is not "no usage": its company
        // waits, recorded, rather than being written from nothing.
        Ok(got) => {
            let left_out = chunk
                .iter()
                .filter(|t| !got.iter().any(|u| u.tenant.eq_ignore_ascii_case(t)))
                .map(|t| (t.clone(), LEFT_OUT.to_owned(), true))
                .collect();
            (got, left_out)
        }
        Err(e) if e.is_transient() || chunk.len() == 1 => (
            Vec::new(),
            chunk
                .iter()
                .map(|t| (t.clone(), e.to_string(), e.is_transient()))
                .collect(),
        ),
        Err(_) => {
            let mut got = Vec::new();
            let mut failed = Vec::new();
            for t in chunk {
                match api.usages(std::slice::from_ref(t)).await {
                    Ok(u) if !u.iter().any(|x| x.tenant.eq_ignore_ascii_case(t)) => {
                        failed.push((t.clone(), LEFT_OUT.to_owned(), true));
                    }
                    Ok(u) => got.extend(u),
                    Err(e) => failed.push((t.clone(), e.to_string(), e.is_transient())),
                }
            }
            (got, failed)
        }
    }
}
