//! Product mapping: offering items ↔ ConnectWise products, free items, the default storage,
//! the editions and new-product attributes, and auto-mapping.

use maud::{Markup, html};
use shared::domain::products::ProductSettings;
use shared::domain::settings::BillingSettings;
use shared::domain::usage::UsageSettings;

use super::{action_button, connections, line, ran_view, settings_or_error, shown};
use crate::Command;
use crate::cmd::args::DryRun;
use crate::cmd::billing::BillingCmd;
use crate::cmd::products::{ProductRow, ProductsCmd};
use crate::cmd::usage::UsageCmd;
use crate::console::actions::Fields;
use crate::console::backend::Backend;

pub async fn render<B: Backend>(backend: &B, query: &Fields) -> Markup {
    let picked = connections::picked(backend, connections::asked(query)).await;
    let list = backend
        .run(line(Command::Products(ProductsCmd::List {
            connection: picked.arg(),
        })))
        .await;
    let settings = backend
        .run(line(Command::Products(ProductsCmd::Settings {
            pairs: Vec::new(),
            dry_run: DryRun { dry_run: false },
        })))
        .await;
    let usage = backend.run(line(Command::Usage(UsageCmd::Show))).await;
    let billing = backend.run(line(Command::Billing(BillingCmd::Show))).await;
    let rows: &[ProductRow] = list.report::<Vec<ProductRow>>().map_or(&[], Vec::as_slice);
    let connection = picked.field();
    html! {
        (connections::picker("products", &picked))
        section aria-labelledby="items" {
            h2 id="items" {
                "Offering items"
                @if picked.usable.len() > 1 { " of " (connection) }
            }
            @if list.error.is_some() { (ran_view(&list)) }
            div.scroll {
                table {
                    thead { tr {
                        th scope="col" { "offering item" } th scope="col" { "edition" } th scope="col" { "storage" }
                        th scope="col" { "product" } th scope="col" { "free" } th scope="col" { "default storage" } th scope="col" { "change" }
                    } }
                    tbody {
                        @for (i, r) in rows.iter().enumerate() {
                            (item_row(i, r, connection))
                        }
                    }
                }
            }
            (action_button("Auto-map: preview the products to create and map", &[("action", "auto-map"), ("connection", connection)]))
        }
        section aria-labelledby="product-settings" {
            h2 id="product-settings" { "Editions and new products" }
            (settings_or_error::<ProductSettings>(&settings, "product-settings", "Editions mapped and attributes of the products auto-mapping creates"))
        }
        section aria-labelledby="usage-settings" {
            h2 id="usage-settings" { "Usage and billing" }
            (settings_or_error::<UsageSettings>(&usage, "usage", "How usage becomes a quantity"))
            (settings_or_error::<BillingSettings>(&billing, "billing", "Pay-as-you-go agreement types"))
        }
    }
}

/// One offering item with its mapping and the changes it offers (each in `connection`).
fn item_row(i: usize, r: &ProductRow, connection: &str) -> Markup {
    let item = r.offering_item.as_str();
    let infra = r.infra_id.as_deref().unwrap_or_default();
    let m = r.mapping.as_ref();
    let product = match m.map(|m| (&m.product_identifier, m.product_id)) {
        Some((Some(s), id)) => format!("{s} ({})", shown(&id)),
        Some((None, Some(id))) => id.to_string(),
        _ => "–".into(),
    };
    let storage = match &r.infra_name {
        Some(n) => n.clone(),
        None => shown(&r.infra_id),
    };
    let input = format!("product-{i}");
    html! {
        tr {
            td { (item) @if !r.offered { " " span.error { "(no longer offered)" } } }
            td { (shown(&r.edition)) }
            td { (storage) }
            td { (product) }
            td { (shown(&m.map(|m| m.free))) }
            td { (shown(&m.map(|m| m.default_storage))) }
            td.actions {
                form.inline method="post" action="/preview" {
                    input type="hidden" name="action" value="products-map";
                    input type="hidden" name="item" value=(item);
                    input type="hidden" name="infra" value=(infra);
                    input type="hidden" name="connection" value=(connection);
                    label.sr for=(input) { "Product for " (item) }
                    input id=(input) type="text" name="product" placeholder="product id or identifier" size="14";
                    button type="submit" { "Map…" }
                }
                (action_button("Free…", &[("action", "products-free"), ("item", item), ("infra", infra), ("connection", connection)]))
                @if m.is_some() {
                    (action_button("Unmap…", &[("action", "products-unmap"), ("item", item), ("infra", infra), ("connection", connection)]))
                }
                @if !infra.is_empty() && !m.is_some_and(|m| m.default_storage) {
                    (action_button("Default storage…", &[("action", "default-storage"), ("infra", infra), ("connection", connection)]))
                }
            }
        }
    }
}
