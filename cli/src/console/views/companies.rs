//! Company mapping: search, filters (mapping, type, status), paging, check-boxes to map to new
//! tenants in bulk or one company to an existing tenant, match proposals, unmap.

use maud::{Markup, html};
use shared::domain::deprovisioning::PendingStep;

use clap::ValueEnum;

use super::connections::{self, Picked};
use super::{action_button, error_view, line, shown, view_of};
use crate::Command;
use crate::cmd::args::{DryRun, MappingArg};
use crate::cmd::companies::{CompaniesCmd, CompanyRow, MatchDryRun};
use crate::cmd::tenants::{TenantsCmd, TenantsPage};
use crate::console::actions::Fields;
use crate::console::backend::{Backend, Choice, ChoiceList};
use shared::secrets::ConnectionName;

/// Companies per page.
pub const PER_PAGE: usize = 50;

/// The filters and page, from the query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompanyQuery {
    pub search: Option<String>,
    /// `all`, `mapped` or `unmapped`.
    pub mapping: String,
    pub types: Vec<String>,
    pub statuses: Vec<String>,
    /// From 1.
    pub page: usize,
    /// Show the match proposals (they read every company and tenant: on demand).
    pub proposals: bool,
    /// The Acronis connection whose tenants the page offers and matches.
    pub connection: Option<String>,
}

impl CompanyQuery {
    pub fn from_fields(fields: &Fields) -> Self {
        let all = |name: &str| -> Vec<String> {
            fields
                .iter()
                .filter(|(k, v)| k == name && !v.trim().is_empty())
                .map(|(_, v)| v.trim().to_owned())
                .collect()
        };
        let one = |name: &str| all(name).into_iter().next();
        Self {
            search: one("search"),
            mapping: one("mapping")
                .filter(|m| ["all", "mapped", "unmapped"].contains(&m.as_str()))
                .unwrap_or_else(|| "all".into()),
            types: all("type"),
            statuses: all("status"),
            page: one("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1),
            proposals: one("proposals").is_some(),
            connection: one("connection"),
        }
    }

    /// The `acw companies list` command.
    fn command(&self) -> Command {
        Command::Companies(CompaniesCmd::List {
            search: self.search.clone(),
            mapping: MappingArg::from_str(&self.mapping, false).unwrap_or(MappingArg::All),
            types: self.types.clone(),
            statuses: self.statuses.clone(),
        })
    }

    /// The query string of this view at another page.
    fn href(&self, page: usize) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("tab", "companies");
        if let Some(s) = &self.search {
            q.append_pair("search", s);
        }
        q.append_pair("mapping", &self.mapping);
        for t in &self.types {
            q.append_pair("type", t);
        }
        for s in &self.statuses {
            q.append_pair("status", s);
        }
        if let Some(c) = &self.connection {
            q.append_pair("connection", c);
        }
        q.append_pair("page", &page.to_string());
        format!("/?{}", q.finish())
    }
}

pub async fn render<B: Backend>(backend: &B, q: &CompanyQuery) -> Markup {
    let (list, types, statuses, picked) = tokio::join!(
        backend.run(line(q.command())),
        backend.choices(ChoiceList::CompanyTypes),
        backend.choices(ChoiceList::CompanyStatuses),
        connections::picked(backend, q.connection.as_deref()),
    );
    let tenants = backend
        .run(line(Command::Tenants(TenantsCmd::List {
            connection: picked.arg(),
            search: None,
            mapping: MappingArg::Unmapped,
            page: 1,
            per_page: 1000,
        })))
        .await;
    let rows: &[CompanyRow] = list.report::<Vec<CompanyRow>>().map_or(&[], Vec::as_slice);
    let unmapped_tenants = tenants
        .report::<TenantsPage>()
        .map_or(&[][..], |p| &p.tenants);
    let pages = rows.len().div_ceil(PER_PAGE).max(1);
    let page = q.page.min(pages);
    let page_rows = rows.iter().skip((page - 1) * PER_PAGE).take(PER_PAGE);
    let first = (page - 1) * PER_PAGE + 1;
    let last = (page * PER_PAGE).min(rows.len());
    let proposals = if q.proposals {
        Some(
            backend
                .run(line(Command::Companies(CompaniesCmd::Match {
                    connection: picked.arg(),
                    only: Vec::new(),
                    from: None,
                    dry_run: DryRun { dry_run: true },
                })))
                .await,
        )
    } else {
        None
    };
    html! {
        form.filters method="get" action="/" aria-label="Filter companies" {
            input type="hidden" name="tab" value="companies";
            div.field { label for="search" { "Search" } input id="search" type="search" name="search" value=[q.search.as_deref()] placeholder="name or identifier"; }
            div.field {
                label for="mapping" { "Mapping" }
                select id="mapping" name="mapping" {
                    @for m in ["all", "mapped", "unmapped"] { option value=(m) selected[q.mapping == m] { (m) } }
                }
            }
            (multi_select("type", "Type", &types, &q.types))
            (multi_select("status", "Status", &statuses, &q.statuses))
            (connections::field(&picked, "Acronis connection (its tenants below)"))
            button type="submit" { "Filter" }
        }
        @if picked.listed.error.is_some() { (error_view(&picked.listed)) }
        @if list.error.is_some() { (error_view(&list)) }
        form id="bulk" method="post" action="/preview" {
            input type="hidden" name="action" value="companies-map";
            (connections::hidden(&picked))
            p {
                @if picked.usable.len() > 1 {
                    label for="new-connection" { "New tenants in" }
                    " "
                    select id="new-connection" name="new_connection" {
                        option value="" selected { "the connection the new-customer rule gives" }
                        @for r in &picked.usable { option value=(r.name.as_str()) { (r.name.as_str()) } }
                    }
                    " "
                }
                button type="submit" name="target" value="new" { "Map ticked companies to new tenants…" }
            }
            p {
                label for="tenant" {
                    "Existing tenant (one ticked company)"
                    @if picked.usable.len() > 1 { " of " (picked.field()) }
                }
                " "
                input id="tenant" type="text" name="tenant" list="tenant-choices" placeholder="tenant id" size="38";
                datalist id="tenant-choices" {
                    @for t in unmapped_tenants {
                        option value=(t.id) label=(shown(&t.name)) {}
                    }
                }
                " "
                button type="submit" name="target" value="existing" { "Map to this tenant…" }
            }
        }
        p.muted aria-live="polite" {
            @if rows.is_empty() { "No company matches." } @else { "Companies " (first) "–" (last) " of " (rows.len()) }
        }
        div.scroll {
            table {
                thead { tr {
                    th scope="col" { span.sr { "tick" } }
                    @for c in ["id", "identifier", "name", "status", "types", "data centre → partner → customer tenant", "pending deprovisioning", "change"] { th scope="col" { (c) } }
                } }
                tbody {
                    @for r in page_rows { (company_row(r, &picked)) }
                }
            }
        }
        @if pages > 1 {
            nav.pages aria-label="Pages" {
                @if page > 1 { a href=(q.href(page - 1)) rel="prev" { "← previous" } }
                span { " page " (page) " of " (pages) " " }
                @if page < pages { a href=(q.href(page + 1)) rel="next" { "next →" } }
            }
        }
        section aria-labelledby="match" {
            h2 id="match" { "Match existing tenants" }
            @match &proposals {
                None => p { a href=(proposals_href(&picked)) { "Propose pairs of unmapped companies and tenants" } " (same name, normalised name, customer id, contact email domain)." },
                Some(ran) => (proposals_view(ran, &picked)),
            }
        }
    }
}

/// The link that shows the match proposals in the picked connection.
fn proposals_href(picked: &Picked) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("tab", "companies");
    q.append_pair("proposals", "1");
    if let Some(c) = &picked.chosen {
        q.append_pair("connection", c.as_str());
    }
    format!("/?{}#match", q.finish())
}

/// One company of the list: ticked to map it, or where its tenant is (data centre → partner
/// connection → customer tenant) and the button to unmap it.
fn company_row(r: &CompanyRow, picked: &Picked) -> Markup {
    let id = r.id.to_string();
    let mapped = r.tenant_id.is_some();
    html! {
        tr {
            td {
                @if !mapped {
                    input type="checkbox" form="bulk" name="company" value=(id) id={ "company-" (id) } aria-label={ "Tick " (shown(&r.name)) };
                }
            }
            td { (id) }
            td { (shown(&r.identifier)) }
            td { label for={ "company-" (id) } { (shown(&r.name)) } }
            td { (shown(&r.status)) }
            td { (r.types.join(", ")) }
            td {
                @if let (Some(c), Some(tenant)) = (&r.connection, &r.tenant_id) {
                    @if let Some(dc) = ConnectionName::parse(c).ok().and_then(|c| picked.data_centre(&c)) { (dc) " → " }
                    (c) " → " (r.tenant_name.as_deref().unwrap_or(tenant))
                    br;
                    small.muted { (tenant) " (" (shown(&r.origin)) ")" }
                } @else { "–" }
            }
            td { (pending(&r.pending_deprovisioning)) }
            td {
                @if mapped {
                    (action_button("Unmap…", &[("action", "companies-unmap"), ("company", &id)]))
                }
            }
        }
    }
}

fn multi_select(
    name: &str,
    label: &str,
    choices: &Result<Vec<Choice>, String>,
    chosen: &[String],
) -> Markup {
    html! {
        div.field {
            label for=(name) { (label) }
            @match choices {
                Ok(choices) => select id=(name) name=(name) multiple size="3" {
                    @for c in choices { option value=(c.name) selected[chosen.contains(&c.name)] { (c.name) } }
                },
                Err(e) => span.error { (e) },
            }
        }
    }
}

fn pending(steps: &[PendingStep]) -> Markup {
    if steps.is_empty() {
        return html! { "–" };
    }
    html! {
        @for s in steps { (shown(&s.step)) " on " (shown(&s.on)) br; }
    }
}

fn proposals_view(ran: &crate::console::backend::Ran, picked: &Picked) -> Markup {
    let report = ran.report::<MatchDryRun>();
    let proposals = report.map_or(&[][..], |r| &r.plan.proposals);
    html! {
        @if ran.error.is_some() { (error_view(ran)) }
        @if proposals.is_empty() {
            p.muted { "No proposal." }
        } @else {
            form method="post" action="/preview" {
                input type="hidden" name="action" value="companies-match";
                (connections::hidden(picked))
                table {
                    thead { tr { th scope="col" { span.sr { "tick" } } th scope="col" { "company" } th scope="col" { "tenant" } th scope="col" { "evidence" } } }
                    tbody {
                        @for p in proposals {
                            @let id = p.company_id.to_string();
                            tr {
                                td { input type="checkbox" name="company" value=(id) id={ "match-" (id) } checked; }
                                td { label for={ "match-" (id) } { (p.company_name) " (" (id) ")" } }
                                td { (p.tenant_name) " (" (p.tenant_id) ")" }
                                td { (shown(&p.evidence)) }
                            }
                        }
                    }
                }
                button type="submit" { "Map the ticked pairs…" }
            }
        }
        @if let Some(plan) = report.map(|r| &r.plan) {
            h3 { (super::label("ambiguous")) }
            (view_of(&plan.ambiguous))
            h3 { (super::label("unmatched_companies")) }
            (view_of(&plan.unmatched_companies))
            h3 { (super::label("unmatched_tenants")) }
            (view_of(&plan.unmatched_tenants))
        }
    }
}
