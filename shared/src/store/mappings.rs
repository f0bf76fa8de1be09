//! Company ↔ tenant mappings: both directions written in one transaction conditioned on neither existing, so a company and a tenant are mapped at most once.

// This module adds to `Store`, over the helpers and imports of `store`.
use super::*;

impl Store {
    /// The two items of a mapping: by company (indexed) and by tenant.
    pub(super) fn mapping_items(m: &CompanyMapping) -> Result<[Item; 2], StoreError> {
        let mut by_company = Self::item(m, keys::company(m.company_id), keys::MAPPING)?;
        by_company.insert("gsi1pk".into(), s(keys::MAPPINGS_INDEX));
        by_company.insert("gsi1sk".into(), s(keys::company_sort(m.company_id)));
        let mut by_tenant = Self::item(m, keys::tenant(&m.tenant_id), keys::MAPPING)?;
        Self::index_sweep_slot(&mut by_tenant, m.company_id);
        Ok([by_company, by_tenant])
    }

    /// Files the tenant-side item under its company's slot of the daily sweep, so that a
    /// cycle reads the mappings of its slot only.
    fn index_sweep_slot(by_tenant: &mut Item, company_id: i64) {
        let slot = crate::domain::calendar::sweep_slot(company_id);
        by_tenant.insert("gsi1pk".into(), s(keys::sweep(slot)));
        by_tenant.insert("gsi1sk".into(), s(keys::company_sort(company_id)));
    }

    /// Loads mappings in batches **without** the one-to-one check of [`Store::map_company`]:
    /// only for seeding an empty table with pairs known to be distinct (benchmarks).
    pub async fn load_mappings_unchecked(&self, ms: &[CompanyMapping]) -> Result<(), StoreError> {
        let mut items = Vec::with_capacity(ms.len() * 2);
        for m in ms {
            items.extend(Self::mapping_items(m)?);
        }
        self.put_many(items).await
    }

    /// Stores the mapping both ways in one transaction; refuses when the company or the
    /// tenant is already mapped (to anything, the same pair included).
    pub async fn map_company(&self, m: &CompanyMapping) -> Result<(), StoreError> {
        let [by_company, by_tenant] = Self::mapping_items(m)?;
        let put = |item: Item| -> Result<TransactWriteItem, StoreError> {
            Ok(TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .map_err(|e| StoreError::Dynamo(e.to_string()))?,
                )
                .build())
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(put(by_company)?)
            .transact_items(put(by_tenant)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let reasons: Vec<bool> = match e.as_service_error() {
                    Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) => c
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code() == Some("ConditionalCheckFailed"))
                        .collect(),
                    _ => return Err(dynamo(e)),
                };
                if reasons.first() == Some(&true)
                    && let Some(existing) = self.mapping_by_company(m.company_id).await?
                {
                    return Err(StoreError::CompanyAlreadyMapped {
                        company_id: m.company_id,
                        tenant_id: existing.tenant_id,
                    });
                }
                if reasons.get(1) == Some(&true)
                    && let Some(existing) = self.mapping_by_tenant(&m.tenant_id).await?
                {
                    return Err(StoreError::TenantAlreadyMapped {
                        tenant_id: m.tenant_id.clone(),
                        company_id: existing.company_id,
                    });
                }
                Err(StoreError::Conflict(format!(
                    "mapping of company {}",
                    m.company_id
                )))
            }
        }
    }

    /// Records that the tenant's setup is done (both sides, each only while it still holds
    /// this pair: an unmapping in between is never undone).
    pub async fn finish_setup(&self, m: &CompanyMapping) -> Result<(), StoreError> {
        let done = CompanyMapping {
            setup_pending: false,
            ..m.clone()
        };
        for item in Self::mapping_items(&done)? {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("company_id = :company AND tenant_id = :tenant")
                .expression_attribute_values(
                    ":company",
                    AttributeValue::N(m.company_id.to_string()),
                )
                .expression_attribute_values(":tenant", s(&m.tenant_id))
                .send()
                .await;
            put_if(result)?;
        }
        Ok(())
    }

    pub async fn mapping_by_company(
        &self,
        company_id: i64,
    ) -> Result<Option<CompanyMapping>, StoreError> {
        self.get(keys::company(company_id), keys::MAPPING).await
    }

    pub async fn mapping_by_tenant(
        &self,
        tenant_id: &str,
    ) -> Result<Option<CompanyMapping>, StoreError> {
        self.get(keys::tenant(tenant_id), keys::MAPPING).await
    }

    /// Every mapping, by company id.
    pub async fn mappings(&self) -> Result<Vec<CompanyMapping>, StoreError> {
        self.query_index(keys::MAPPINGS_INDEX, None).await
    }

    /// The mappings of the companies in these slots of the daily sweep (one index query per
    /// slot; a cycle usually sweeps one).
    pub async fn mappings_in_slots(
        &self,
        slots: &[i64],
    ) -> Result<Vec<CompanyMapping>, StoreError> {
        let mut out = Vec::new();
        for slot in slots {
            out.extend(
                self.query_index::<CompanyMapping>(&keys::sweep(*slot), None)
                    .await?,
            );
        }
        Ok(out)
    }

    /// The mappings of these tenants (100 per `BatchGetItem`); a tenant not mapped is left
    /// out.
    pub async fn mappings_of_tenants(
        &self,
        tenant_ids: &[String],
    ) -> Result<Vec<CompanyMapping>, StoreError> {
        let partitions: BTreeSet<String> = tenant_ids.iter().map(|t| keys::tenant(t)).collect();
        self.mappings_in(partitions).await
    }

    /// The mapping items of these partitions, in batched reads by key.
    async fn mappings_in(
        &self,
        partitions: BTreeSet<String>,
    ) -> Result<Vec<CompanyMapping>, StoreError> {
        let keys: Vec<Item> = partitions
            .into_iter()
            .map(|pk| {
                Item::from([
                    ("pk".to_owned(), s(pk)),
                    ("sk".to_owned(), s(keys::MAPPING)),
                ])
            })
            .collect();
        let mut out = Vec::new();
        for batch in keys.chunks(BATCH_GET) {
            for item in self.get_batch(batch.to_vec()).await? {
                out.push(Self::read(item)?);
            }
        }
        Ok(out)
    }

    /// The mappings of these companies (batched reads by key; an unmapped company is left
    /// out).
    pub async fn mappings_of_companies(
        &self,
        company_ids: &[i64],
    ) -> Result<Vec<CompanyMapping>, StoreError> {
        let partitions: BTreeSet<String> =
            company_ids.iter().map(|id| keys::company(*id)).collect();
        self.mappings_in(partitions).await
    }

    /// Files mappings stored before the sweep's index existed under their slots: each
    /// tenant-side item is written again from its company-side twin, only while it still
    /// points at that company (an unmapping in between is never undone). Returns how many.
    pub async fn index_sweep_slots(&self) -> Result<usize, StoreError> {
        let mut indexed = 0;
        for m in self.mappings().await? {
            let [_, by_tenant] = Self::mapping_items(&m)?;
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(by_tenant))
                .condition_expression("company_id = :company")
                .expression_attribute_values(
                    ":company",
                    AttributeValue::N(m.company_id.to_string()),
                )
                .send()
                .await;
            if put_if(result)? {
                indexed += 1;
            }
        }
        Ok(indexed)
    }

    /// Removes a company's mapping both ways (only if they still point at each other).
    pub async fn unmap_company(
        &self,
        company_id: i64,
    ) -> Result<Option<CompanyMapping>, StoreError> {
        let Some(m) = self.mapping_by_company(company_id).await? else {
            return Ok(None);
        };
        let delete = |pk: String,
                      cond: &str,
                      value: AttributeValue,
                      name: &str|
         -> Result<TransactWriteItem, StoreError> {
            Ok(TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .key("pk", s(pk))
                        .key("sk", s(keys::MAPPING))
                        .condition_expression(cond)
                        .expression_attribute_names("#f", name)
                        .expression_attribute_values(":v", value)
                        .build()
                        .map_err(|e| StoreError::Dynamo(e.to_string()))?,
                )
                .build())
        };
        self.client
            .transact_write_items()
            .transact_items(delete(keys::company(company_id), "#f = :v", s(m.tenant_id.clone()), "tenant_id")?)
            .transact_items(delete(
                keys::tenant(&m.tenant_id),
                "#f = :v",
                AttributeValue::N(company_id.to_string()),
                "company_id",
            )?)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(_)) => {
                    StoreError::Conflict(format!("mapping of company {company_id}"))
                }
                _ => dynamo(e),
            })?;
        Ok(Some(m))
    }
}
