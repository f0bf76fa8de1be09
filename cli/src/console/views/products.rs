//! Product mapping: offering items ↔ ConnectWise products, free items, the default storage,
//! the editions and new-product attributes, and auto-mapping.

use maud::{Markup, html};
use serde_json::Value;

use super::{action_button, cell, ran_view, settings_form};
use crate::console::backend::Backend;

pub async fn render<B: Backend>(backend: &B) -> Markup {
    let list = backend.run(vec!["products".into(), "list".into()]).await;
    let settings = backend
        .run(vec!["products".into(), "settings".into()])
        .await;
    let usage = backend.run(vec!["usage".into(), "show".into()]).await;
    let billing = backend.run(vec!["billing".into(), "show".into()]).await;
    let rows = list.value().as_array().cloned().unwrap_or_default();
    html! {
        section aria-labelledby="items" {
            h2 id="items" { "Offering items" }
            @if list.error.is_some() { (ran_view(&list)) }
            div.scroll {
                table {
                    thead { tr {
                        th scope="col" { "offering item" } th scope="col" { "edition" } th scope="col" { "storage" }
                        th scope="col" { "product" } th scope="col" { "free" } th scope="col" { "default storage" } th scope="col" { "change" }
                    } }
                    tbody {
                        @for (i, r) in rows.iter().enumerate() {
                            (item_row(i, r))
                        }
                    }
                }
            }
            (action_button("Auto-map: preview the products to create and map", &[("action", "auto-map")]))
        }
        section aria-labelledby="product-settings" {
            h2 id="product-settings" { "Editions and new products" }
            (settings_or_error(&settings, "product-settings", "Editions mapped and attributes of the products auto-mapping creates"))
        }
        section aria-labelledby="usage-settings" {
            h2 id="usage-settings" { "Usage and billing" }
            (settings_or_error(&usage, "usage", "How usage becomes a quantity"))
            (settings_or_error(&billing, "billing", "Pay-as-you-go agreement types"))
        }
    }
}

fn settings_or_error(ran: &crate::console::backend::Ran, section: &str, legend: &str) -> Markup {
    match ran.error {
        Some(_) => ran_view(ran),
        None => settings_form(section, ran.value(), legend),
    }
}

fn item_row(i: usize, r: &Value) -> Markup {
    let item = r["offering_item"].as_str().unwrap_or_default();
    let infra = r["infra_id"].as_str().unwrap_or_default();
    let m = &r["mapping"];
    let product = match (&m["product_identifier"], &m["product_id"]) {
        (Value::String(s), id) => format!("{s} ({})", cell(id)),
        (_, Value::Number(id)) => id.to_string(),
        _ => "–".into(),
    };
    let storage = match &r["infra_name"] {
        Value::String(n) => n.clone(),
        _ => cell(&r["infra_id"]),
    };
    let input = format!("product-{i}");
    html! {
        tr {
            td { (item) @if r["offered"] == Value::Bool(false) { " " span.error { "(no longer offered)" } } }
            td { (cell(&r["edition"])) }
            td { (storage) }
            td { (product) }
            td { (cell(&m["free"])) }
            td { (cell(&m["default_storage"])) }
            td.actions {
                form.inline method="post" action="/preview" {
                    input type="hidden" name="action" value="products-map";
                    input type="hidden" name="item" value=(item);
                    input type="hidden" name="infra" value=(infra);
                    label.sr for=(input) { "Product for " (item) }
                    input id=(input) type="text" name="product" placeholder="product id or identifier" size="14";
                    button type="submit" { "Map…" }
                }
                (action_button("Free…", &[("action", "products-free"), ("item", item), ("infra", infra)]))
                @if !m.is_null() {
                    (action_button("Unmap…", &[("action", "products-unmap"), ("item", item), ("infra", infra)]))
                }
                @if !infra.is_empty() && m["default_storage"] != Value::Bool(true) {
                    (action_button("Default storage…", &[("action", "default-storage"), ("infra", infra)]))
                }
            }
        }
    }
}
