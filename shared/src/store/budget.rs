//! ConnectWise's request budget (`BUDGET` / `connectwise`): one number, the GCRA's `tat`
//! (see [`crate::domain::request_budget`]). It only ever grows, so a value read earlier is
//! never ahead of the stored one.

// This module adds to `Store`, over the helpers and imports of `store`.
use super::*;
use crate::domain::request_budget::Grant;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

const BUDGET: &str = "BUDGET";
const CONNECTWISE: &str = "connectwise";

fn tat_of(item: Option<&HashMap<String, AttributeValue>>) -> Option<i64> {
    item?.get("tat")?.as_n().ok()?.parse().ok()
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl Store {
    /// Applies `grant` (planned at `now`) if the stored `tat` still allows it: `Ok(new tat)`,
    /// or `Err(the stored tat)` when it does not (`None`: never written).
    pub async fn try_budget_grant(
        &self,
        grant: Grant,
        now: i64,
    ) -> Result<Result<i64, Option<i64>>, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(BUDGET))
            .key("sk", s(CONNECTWISE))
            .expression_attribute_names("#tat", "tat")
            .expression_attribute_values(":now", n(now))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let update = match grant {
            Grant::Start { tat } => update
                .update_expression("SET #tat = :tat")
                .condition_expression("attribute_not_exists(#tat) OR #tat <= :now")
                .expression_attribute_values(":tat", n(tat)),
            Grant::Extend { at_most, by } => update
                .update_expression("SET #tat = #tat + :by")
                .condition_expression("#tat > :now AND #tat <= :at_most")
                .expression_attribute_values(":by", n(by))
                .expression_attribute_values(":at_most", n(at_most)),
            Grant::Wait { .. } => return self.budget_tat().await.map(Err),
        };
        match update.send().await {
            Ok(out) => tat_of(out.attributes.as_ref())
                .map(Ok)
                .ok_or_else(|| StoreError::Dynamo("the budget's update returned no tat".into())),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => match c.item() {
                    Some(item) => Ok(Err(tat_of(Some(item)))),
                    // Not every DynamoDB answers with the item: read it.
                    None => self.budget_tat().await.map(Err),
                },
                _ => Err(dynamo(e)),
            },
        }
    }

    /// Moves the `tat` to at least `tat` (after a 429: holds every caller back).
    pub async fn hold_budget(&self, tat: i64) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(BUDGET))
            .key("sk", s(CONNECTWISE))
            .update_expression("SET #tat = :tat")
            .condition_expression("attribute_not_exists(#tat) OR #tat < :tat")
            .expression_attribute_names("#tat", "tat")
            .expression_attribute_values(":tat", n(tat))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.as_service_error(), Some(s) if s.is_conditional_check_failed_exception()) => {
                Ok(())
            }
            Err(e) => Err(dynamo(e)),
        }
    }

    /// The stored `tat` (`None`: never written).
    pub async fn budget_tat(&self) -> Result<Option<i64>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Budget {
            tat: Option<i64>,
        }
        Ok(self
            .get::<Budget>(BUDGET.to_owned(), CONNECTWISE)
            .await?
            .and_then(|b| b.tat))
    }
}
