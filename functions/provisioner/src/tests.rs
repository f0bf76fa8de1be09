//! The handler over a fake of the provisioning service and the needs-attention ticket's
//! fakes: what is acknowledged, what is handed back for a retry, and what reaches a person.

// The service's own result type, scripted.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use shared::bus::{Action, AgreementChanged, CompanyChanged, Origin, VERSION};
use shared::domain::attention::AttentionRecord;
use shared::domain::attention::AttentionSettings;
use shared::services::single_flight::Flight;
use shared::testing::{FakeAttentionStore, FakeRuns, FakeTicketApi, cw_status, open_ticket};

use super::*;

const BOARD: i64 = 3;

/// The provisioning service as scripted: each sync takes the next result.
#[derive(Debug)]
struct FakeSync {
    results: Mutex<VecDeque<Result<Flight, ProvisionError>>>,
    syncs: AtomicU32,
    agreements: BTreeMap<i64, Option<i64>>,
    cw: FakeTicketApi,
    store: FakeAttentionStore,
}

impl FakeSync {
    fn new(results: Vec<Result<Flight, ProvisionError>>) -> Self {
        Self {
            results: Mutex::new(results.into()),
            syncs: AtomicU32::new(0),
            agreements: BTreeMap::from([(500, Some(42)), (501, None)]),
            cw: FakeTicketApi::new(),
            store: FakeAttentionStore::with_settings(AttentionSettings {
                board_id: Some(BOARD),
                status_id: Some(31),
                closing_status_id: Some(39),
                priority_id: None,
                prepaid_overage_notice: false,
            }),
        }
    }
}

impl CompanySync for FakeSync {
    type Tickets = FakeTicketApi;
    type Attention = FakeAttentionStore;

    async fn sync_single_flight(
        &self,
        _change: (i64, DateTime<Utc>, std::time::Duration),
        _run: &mut RunRecord,
    ) -> Result<Flight, ProvisionError> {
        self.syncs.fetch_add(1, Ordering::SeqCst);
        self.results
            .lock()
            .unwrap()
            .pop_front()
            .expect("a scripted result")
    }

    async fn agreement_company(&self, agreement_id: i64) -> Result<Option<i64>, ProvisionError> {
        Ok(self.agreements.get(&agreement_id).copied().flatten())
    }

    fn attention(&self) -> (&FakeTicketApi, &FakeAttentionStore) {
        (&self.cw, &self.store)
    }
}

fn envelope(event: &Event) -> Value {
    let detail: Value = serde_json::from_str(&event.detail().unwrap()).unwrap();
    json!({"detail-type": event.detail_type(), "detail": detail})
}

fn company_changed() -> Value {
    envelope(&Event::Company(CompanyChanged {
        version: VERSION,
        company_id: 42,
        action: Action::Updated,
        origin: Origin::Admin,
        observed_at: shared::clock::now(),
    }))
}

fn agreement_changed(agreement_id: i64) -> Value {
    envelope(&Event::Agreement(AgreementChanged {
        version: VERSION,
        agreement_id,
        company_id: None,
        action: Action::Deleted,
        origin: Origin::Admin,
        observed_at: shared::clock::now(),
    }))
}

fn synced() -> Result<Flight, ProvisionError> {
    Ok(Flight::Ran(Outcome::QuotasSynced {
        tenant_id: "t-42".into(),
        changed: 2,
    }))
}

#[tokio::test]
async fn a_company_brought_to_its_target_is_acknowledged_recorded_and_opens_no_ticket() {
    let (svc, runs) = (FakeSync::new(vec![synced()]), FakeRuns::default());
    let reply = handle_eventbridge(&svc, &runs, &company_changed())
        .await
        .unwrap();
    assert_eq!(reply, json!({"outcome": "quotas_synced", "company_id": 42}));
    let run = &runs.finished()[0];
    assert!(run.failures.is_empty());
    assert_eq!(run.counts.get("companies"), Some(&1));
    assert!(svc.cw.tickets().is_empty());
}

#[tokio::test]
async fn a_problem_someone_must_fix_is_acknowledged_and_reaches_the_companys_ticket() {
    let problem = ProvisionError::NeedsAttention("the company has no contact with an email".into());
    let (svc, runs) = (FakeSync::new(vec![Err(problem)]), FakeRuns::default());
    let reply = handle_eventbridge(&svc, &runs, &company_changed())
        .await
        .unwrap();
    assert_eq!(reply["outcome"], "failed");
    let run = &runs.finished()[0];
    assert_eq!(run.failures.len(), 1);
    assert!(!run.failures[0].transient);
    let tickets = svc.cw.tickets();
    assert_eq!(tickets.len(), 1, "one needs-attention ticket");
    assert_eq!(tickets[0].board.as_ref().map(|b| b.id), Some(BOARD));
}

#[tokio::test]
async fn an_outage_is_handed_back_for_a_retry_recorded_and_opens_no_ticket_yet() {
    let outage = ProvisionError::ConnectWise(cw_status(503, "company/companies/42"));
    let (svc, runs) = (FakeSync::new(vec![Err(outage)]), FakeRuns::default());
    let e = handle_eventbridge(&svc, &runs, &company_changed())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, InvokeError::Handler(r) if r.company_id == 42),
        "{e}"
    );
    let run = &runs.finished()[0];
    assert!(run.failures[0].transient);
    assert!(
        svc.cw.tickets().is_empty(),
        "a transient problem waits before telling"
    );
}

#[tokio::test]
async fn a_company_another_run_holds_is_waited_for_instead_of_handed_back() {
    let busy = || Err(ProvisionError::Busy(42));
    let (svc, runs) = (
        FakeSync::new(vec![busy(), busy(), synced()]),
        FakeRuns::default(),
    );
    let reply = handle_eventbridge(&svc, &runs, &company_changed())
        .await
        .unwrap();
    assert_eq!(reply["outcome"], "quotas_synced");
    assert_eq!(svc.syncs.load(Ordering::SeqCst), 3);
}

/// Company 42's needs-attention ticket, open for an earlier problem.
fn with_open_ticket(svc: &FakeSync) -> String {
    let key = shared::domain::attention::key(Job::Provisioning, 42);
    svc.cw.put(open_ticket(900, &key, 31));
    svc.store.put(AttentionRecord {
        unknown: Default::default(),
        key: key.clone(),
        company_id: 42,
        job: Job::Provisioning,
        ticket_id: Some(900),
        problems: vec!["no contact".into()],
        open: true,
        updated_at: shared::clock::now(),
        transient_since: None,
    });
    key
}

#[tokio::test]
async fn a_change_another_run_covers_is_left_to_it_and_its_ticket_to_that_run() {
    let (svc, runs) = (
        FakeSync::new(vec![Ok(Flight::Covered)]),
        FakeRuns::default(),
    );
    let key = with_open_ticket(&svc);
    let reply = handle_eventbridge(&svc, &runs, &company_changed())
        .await
        .unwrap();
    assert_eq!(reply, json!({"outcome": "covered", "company_id": 42}));
    assert!(
        svc.store.record(&key).unwrap().open,
        "left to the run that sees it"
    );

    // The run that sees it succeeds: the problem is fixed, its ticket closed.
    let svc = FakeSync::new(vec![synced()]);
    let key = with_open_ticket(&svc);
    handle_eventbridge(&svc, &runs, &company_changed())
        .await
        .unwrap();
    assert!(!svc.store.record(&key).unwrap().open);
}

#[tokio::test]
async fn an_agreement_event_syncs_its_company_and_one_without_a_company_is_ignored() {
    let (svc, runs) = (FakeSync::new(vec![synced()]), FakeRuns::default());
    let reply = handle_eventbridge(&svc, &runs, &agreement_changed(500))
        .await
        .unwrap();
    assert_eq!(reply["company_id"], 42);
    let reply = handle_eventbridge(&svc, &runs, &agreement_changed(501))
        .await
        .unwrap();
    assert_eq!(reply, json!({"outcome": "ignored"}));
    assert_eq!(svc.syncs.load(Ordering::SeqCst), 1);
    assert_eq!(runs.finished()[1].counts.get("ignored"), Some(&1));
}
