//! The account, its tenants, their users and pricing.

use super::*;

impl AcronisClient {
    /// The API client's own record; its `tenant_id` is the partner tenant.
    pub async fn client_info(&self) -> Result<ApiClientInfo, AcronisError> {
        self.json(
            Method::GET,
            &format!("api/2/clients/{}", self.client_id()),
            &[],
            None::<&()>,
        )
        .await
    }

    /// The partner tenant: the API client's own, read once per client.
    pub async fn partner_tenant_id(&self) -> Result<String, AcronisError> {
        self.partner
            .get_or_try_init(|| async { self.client_info().await.map(|c| c.tenant_id) })
            .await
            .cloned()
    }

    pub async fn tenant(&self, id: &str) -> Result<Tenant, AcronisError> {
        self.json(
            Method::GET,
            &format!("api/2/tenants/{id}"),
            &[],
            None::<&()>,
        )
        .await
    }

    /// Tenants by id (see [`Self::by_ids`]).
    pub async fn tenants_by_ids(&self, ids: &[String]) -> Result<Vec<Tenant>, AcronisError> {
        self.by_ids("api/2/tenants", "uuids", ids).await
    }

    /// A read by id list: batches of [`BATCH`] ids, or of the page size the platform was seen
    /// to use when smaller, read side by side, each followed to its last page (the platform's
    /// page size for these reads is not documented, so a cursor is always followed). In the
    /// order of `ids`' batches.
    pub(super) async fn by_ids<T: DeserializeOwned>(
        &self,
        path: &str,
        param: &'static str,
        ids: &[String],
    ) -> Result<Vec<T>, AcronisError> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let size = self
            .id_pages
            .lock()
            .ok()
            .and_then(|pages| pages.get(path).copied())
            .map_or(BATCH, |seen| seen.clamp(1, BATCH));
        let chunks: Vec<Vec<String>> = ids.chunks(size).map(<[String]>::to_vec).collect();
        let pages: Vec<Vec<T>> = stream::iter(
            chunks
                .into_iter()
                .map(|chunk| self.id_chunk(path, param, chunk)),
        )
        .buffered(ID_READS_IN_FLIGHT)
        .try_collect()
        .await?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// The first answer to a read by id list with no `limit` (the platform's own page size):
    /// how many tenants it holds and whether a cursor continues it. For `acw doctor`.
    pub async fn id_list_first_page(&self, ids: &[String]) -> Result<(usize, bool), AcronisError> {
        let q = vec![("uuids", ids.join(","))];
        let page: Page<Tenant> = self
            .json(Method::GET, "api/2/tenants", &q, None::<&()>)
            .await?;
        Ok((page.items.len(), page.after().is_some()))
    }

    /// Every direct child of `parent_id`, paging with `after`.
    pub async fn child_tenants(&self, parent_id: &str) -> Result<Vec<Tenant>, AcronisError> {
        let limit = 100;
        self.all_pages(
            "api/2/tenants",
            vec![
                ("parent_id", parent_id.to_owned()),
                ("limit", limit.to_string()),
            ],
            limit,
        )
        .await
    }

    /// A storage by id (its name, for people).
    pub async fn infra(&self, id: &str) -> Result<Infra, AcronisError> {
        self.json(Method::GET, &format!("api/2/infra/{id}"), &[], None::<&()>)
            .await
    }

    /// The direct children of `parent_id` changed since `since`, deleted ones included (with
    /// `deleted_at`): what a cycle checks instead of reading every mapped tenant.
    pub async fn child_tenants_changed(
        &self,
        parent_id: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Tenant>, AcronisError> {
        let limit = 100;
        self.all_pages(
            "api/2/tenants",
            vec![
                ("parent_id", parent_id.to_owned()),
                (
                    "updated_since",
                    since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
                ("allow_deleted", "true".to_owned()),
                ("limit", limit.to_string()),
            ],
            limit,
        )
        .await
    }

    /// Creates a tenant. Not retried after it may have been applied: on a timeout, look the
    /// tenant up (by `internal_tag`) before trying again.
    pub async fn create_tenant(&self, t: &NewTenant) -> Result<Tenant, AcronisError> {
        self.json(Method::POST, "api/2/tenants", &[], Some(t)).await
    }

    /// Updates a tenant with its current version, re-reading after a version conflict.
    pub async fn update_tenant(
        &self,
        id: &str,
        patch: &TenantPatch,
    ) -> Result<Tenant, AcronisError> {
        let attempt = || async {
            let current = self.tenant(id).await?;
            let mut body =
                serde_json::to_value(patch).map_err(|e| AcronisError::Config(e.to_string()))?;
            body["version"] = json!(current.version);
            self.json(
                Method::PUT,
                &format!("api/2/tenants/{id}"),
                &[],
                Some(&body),
            )
            .await
        };
        on_version_conflict(attempt).await
    }

    /// Disables a tenant (with its current version).
    pub async fn disable_tenant(&self, id: &str) -> Result<Tenant, AcronisError> {
        self.update_tenant(
            id,
            &TenantPatch {
                enabled: Some(false),
                ..TenantPatch::default()
            },
        )
        .await
    }

    pub async fn enable_tenant(&self, id: &str) -> Result<Tenant, AcronisError> {
        self.update_tenant(
            id,
            &TenantPatch {
                enabled: Some(true),
                ..TenantPatch::default()
            },
        )
        .await
    }

    /// Deletes a tenant (it must be disabled first) with its current version.
    pub async fn delete_tenant(&self, id: &str) -> Result<(), AcronisError> {
        let attempt = || async {
            let current = self.tenant(id).await?;
            let q = [("version", current.version.to_string())];
            self.no_content(Method::DELETE, &format!("api/2/tenants/{id}"), &q, None)
                .await
        };
        on_version_conflict(attempt).await
    }

    /// Tenants and users matching `text` under `tenant`.
    pub async fn search(
        &self,
        tenant: &str,
        text: &str,
        limit: usize,
    ) -> Result<Vec<SearchHit>, AcronisError> {
        let q = [
            ("tenant", tenant.to_owned()),
            ("text", text.to_owned()),
            ("limit", limit.clamp(1, 300).to_string()),
        ];
        let page: Page<SearchHit> = self
            .json(Method::GET, "api/2/search", &q, None::<&()>)
            .await?;
        Ok(page.items)
    }

    /// Whether `login` is free (204), taken (409 or 406), or the call failed.
    pub async fn login_available(&self, login: &str) -> Result<bool, AcronisError> {
        match self
            .no_content(
                Method::GET,
                "api/2/users/check_login",
                &[("username", login.to_owned())],
                None,
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if matches!(e.status(), Some(406 | 409)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn create_user(&self, u: &NewUser) -> Result<User, AcronisError> {
        self.json(Method::POST, "api/2/users", &[], Some(u)).await
    }

    pub async fn user(&self, id: &str) -> Result<User, AcronisError> {
        self.json(Method::GET, &format!("api/2/users/{id}"), &[], None::<&()>)
            .await
    }

    /// The ids of a tenant's users.
    pub async fn tenant_user_ids(&self, tenant_id: &str) -> Result<Vec<String>, AcronisError> {
        let page: Page<String> = self
            .json(
                Method::GET,
                &format!("api/2/tenants/{tenant_id}/users"),
                &[],
                None::<&()>,
            )
            .await?;
        Ok(page.items)
    }

    pub async fn send_activation_email(&self, user_id: &str) -> Result<(), AcronisError> {
        self.no_content(
            Method::POST,
            &format!("api/2/users/{user_id}/send-activation-email"),
            &[],
            Some(json!({})),
        )
        .await
    }

    pub async fn set_access_policies(
        &self,
        user_id: &str,
        policies: &[AccessPolicy],
    ) -> Result<(), AcronisError> {
        self.no_content(
            Method::PUT,
            &format!("api/2/users/{user_id}/access_policies"),
            &[],
            Some(json!({ "items": policies })),
        )
        .await
    }

    pub async fn pricing(&self, tenant_id: &str) -> Result<Pricing, AcronisError> {
        self.json(
            Method::GET,
            &format!("api/2/tenants/{tenant_id}/pricing"),
            &[],
            None::<&()>,
        )
        .await
    }

    /// Puts a tenant in pricing `mode`, with the version of `known` (the pricing just read)
    /// first, then re-read after a conflict.
    pub async fn set_pricing_mode(
        &self,
        tenant_id: &str,
        mode: &str,
        known: &Pricing,
    ) -> Result<Pricing, AcronisError> {
        let first = std::sync::Mutex::new(Some(known.clone()));
        let attempt = || async {
            let fresh = first
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            let current = match fresh {
                Some(p) => p,
                None => self.pricing(tenant_id).await?,
            };
            let mut body = json!({"mode": mode, "version": current.version});
            if let Some(currency) = &current.currency {
                body["currency"] = json!(currency);
            }
            self.json(
                Method::PUT,
                &format!("api/2/tenants/{tenant_id}/pricing"),
                &[],
                Some(&body),
            )
            .await
        };
        on_version_conflict(attempt).await
    }

    pub async fn set_tenant_mfa(&self, tenant_id: &str, enabled: bool) -> Result<(), AcronisError> {
        self.no_content(
            Method::PUT,
            &format!("api/2/tenants/{tenant_id}/mfa/status"),
            &[],
            Some(json!({ "enabled": enabled })),
        )
        .await
    }
}
