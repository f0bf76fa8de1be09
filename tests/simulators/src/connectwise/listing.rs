//! Collection GETs: `page`/`pageSize`, `conditions`, `orderBy`, `fields`, the RFC 5988 `Link`
//! header, forward-only paging (`pagination-type: forward-only` + `pageId`) and `/count`.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::conditions::{self, Expr, OrderKey};
use super::error::{ApiError, cw_json};
use super::state::as_id;

pub const DEFAULT_PAGE_SIZE: usize = 25;
pub const MAX_PAGE_SIZE: usize = 1000;

/// The parsed query string of a collection GET.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub page: usize,
    pub page_size: usize,
    pub conditions: Option<Expr>,
    pub order: Vec<OrderKey>,
    pub fields: Option<Vec<Vec<String>>>,
    pub forward_only: bool,
    pub page_id: Option<i64>,
    /// The original parameters, in order, for building `Link` URLs.
    pub params: Vec<(String, String)>,
}

fn positive(name: &str, v: &str) -> Result<usize, ApiError> {
    v.trim().parse::<usize>().map_err(|_| {
        ApiError::bad(format!(
            "Invalid value '{v}' for {name}: expected a positive integer"
        ))
    })
}

impl ListQuery {
    pub fn parse(headers: &HeaderMap, query: Option<&str>) -> Result<Self, ApiError> {
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        let mut q = ListQuery {
            page: 1,
            page_size: DEFAULT_PAGE_SIZE,
            forward_only: headers
                .get("pagination-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("forward-only")),
            ..Default::default()
        };
        for (k, v) in &params {
            match k.to_ascii_lowercase().as_str() {
                "page" => q.page = positive("page", v)?.max(1),
                "pagesize" => {
                    let n = positive("pageSize", v)?;
                    if n > MAX_PAGE_SIZE {
                        return Err(ApiError::bad(format!(
                            "pageSize {n} exceeds the maximum of {MAX_PAGE_SIZE}"
                        )));
                    }
                    q.page_size = if n == 0 { DEFAULT_PAGE_SIZE } else { n };
                }
                "pageid" => {
                    q.page_id =
                        Some(v.trim().parse().map_err(|_| {
                            ApiError::bad(format!("Invalid value '{v}' for pageId"))
                        })?);
                }
                "conditions" if !v.trim().is_empty() => {
                    q.conditions =
                        Some(conditions::parse(v).map_err(|e| {
                            ApiError::bad(format!("Invalid conditions '{v}': {e}"))
                        })?);
                }
                "orderby" if !v.trim().is_empty() => {
                    q.order = conditions::parse_order_by(v)
                        .map_err(|e| ApiError::bad(format!("Invalid orderBy '{v}': {e}")))?;
                }
                "fields" if !v.trim().is_empty() => {
                    q.fields = Some(
                        v.split(',')
                            .map(|f| f.trim().split('/').map(str::to_owned).collect())
                            .collect(),
                    );
                }
                _ => {}
            }
        }
        if q.forward_only && !q.order.is_empty() {
            return Err(ApiError::bad(
                "orderBy is not supported with forward-only pagination",
            ));
        }
        q.params = params;
        Ok(q)
    }

    /// The records that satisfy `conditions` (and `pageId`), sorted.
    pub fn select<'a>(&self, rows: impl Iterator<Item = &'a Value>) -> Vec<Value> {
        let mut out: Vec<Value> = rows
            .filter(|r| self.conditions.as_ref().is_none_or(|c| c.matches(r)))
            .filter(|r| {
                self.page_id
                    .is_none_or(|p| as_id(r.get("id")).is_some_and(|id| id > p))
            })
            .cloned()
            .collect();
        conditions::sort_records(&mut out, if self.forward_only { &[] } else { &self.order });
        out
    }

    fn link(&self, base: &str, replace: &[(&str, String)]) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.params {
            if !replace.iter().any(|(r, _)| r.eq_ignore_ascii_case(k)) {
                ser.append_pair(k, v);
            }
        }
        for (k, v) in replace {
            ser.append_pair(k, v);
        }
        format!("{base}?{}", ser.finish())
    }
}

fn project(record: &Value, fields: &[Vec<String>]) -> Value {
    fn copy(src: &Value, path: &[String], dst: &mut Map<String, Value>) {
        let Some((head, rest)) = path.split_first() else {
            return;
        };
        let Some((key, v)) = src
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(head)))
        else {
            return;
        };
        if rest.is_empty() || !v.is_object() {
            dst.insert(key.clone(), v.clone());
        } else {
            let child = dst.entry(key.clone()).or_insert_with(|| json!({}));
            if let Some(obj) = child.as_object_mut() {
                copy(v, rest, obj);
            }
        }
    }
    let mut out = Map::new();
    for f in fields {
        copy(record, f, &mut out);
    }
    Value::Object(out)
}

/// Answers one page of `rows` (already selected and sorted), with the `Link` header.
/// `base` is the absolute URL of the collection without query.
pub fn page(q: &ListQuery, rows: Vec<Value>, base: &str) -> Response {
    let total = rows.len();
    let size = q.page_size.max(1);
    let mut link_header = None;
    let items: Vec<Value> = if q.forward_only {
        let items: Vec<Value> = rows.into_iter().take(size).collect();
        let more = total > items.len();
        link_header = Some(match items.last().and_then(|r| as_id(r.get("id"))) {
            Some(last) if more => format!(
                "<{}>; rel=\"next\"",
                q.link(base, &[("pageId", last.to_string())])
            ),
            _ => String::new(),
        });
        items
    } else {
        let last_page = total.div_ceil(size).max(1);
        let mut links = Vec::new();
        let url = |p: usize| q.link(base, &[("page", p.to_string())]);
        if q.page > 1 {
            links.push(format!("<{}>; rel=\"first\"", url(1)));
            links.push(format!(
                "<{}>; rel=\"prev\"",
                url((q.page - 1).min(last_page))
            ));
        }
        if q.page < last_page {
            links.push(format!("<{}>; rel=\"next\"", url(q.page + 1)));
            links.push(format!("<{}>; rel=\"last\"", url(last_page)));
        }
        if !links.is_empty() {
            link_header = Some(links.join(", "));
        }
        rows.into_iter()
            .skip((q.page - 1).saturating_mul(size))
            .take(size)
            .collect()
    };
    let items: Vec<Value> = match &q.fields {
        Some(f) => items.iter().map(|r| project(r, f)).collect(),
        None => items,
    };
    let mut resp = cw_json(StatusCode::OK, &Value::Array(items));
    if let Some(l) = link_header
        && let Ok(v) = HeaderValue::from_str(&l)
    {
        resp.headers_mut().insert(header::LINK, v);
    }
    resp
}

/// `{"count": n}` for a `/count` route.
pub fn count(n: usize) -> Response {
    cw_json(StatusCode::OK, &json!({ "count": n }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: i64) -> Vec<Value> {
        (1..=n)
            .map(|i| json!({"id": i, "name": format!("c{i}")}))
            .collect()
    }

    fn body(resp: Response) -> (Option<String>, Vec<i64>) {
        let link = resp
            .headers()
            .get(header::LINK)
            .map(|v| v.to_str().expect("ascii").to_owned());
        let bytes = futures_body(resp);
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        let ids = v
            .as_array()
            .expect("array")
            .iter()
            .map(|r| r["id"].as_i64().expect("id"))
            .collect();
        (link, ids)
    }

    fn futures_body(resp: Response) -> Vec<u8> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body")
                .to_vec()
        })
    }

    fn q(query: &str) -> ListQuery {
        ListQuery::parse(&HeaderMap::new(), Some(query)).expect("parses")
    }

    const BASE: &str = "http://h/v/apis/3.0/company/companies";

    #[test]
    fn pages_and_link_header() {
        let lq = q("pageSize=10&conditions=id%3C%3D35");
        let sel = lq.select(rows(50).iter());
        assert_eq!(sel.len(), 35);
        let (link, ids) = body(page(&lq, sel.clone(), BASE));
        assert_eq!(ids, (1..=10).collect::<Vec<_>>());
        let link = link.expect("link");
        assert!(link.contains("page=2>; rel=\"next\""), "{link}");
        assert!(link.contains("page=4>; rel=\"last\""), "{link}");
        assert!(!link.contains("prev"), "{link}");
        assert!(
            link.starts_with(
                "<http://h/v/apis/3.0/company/companies?pageSize=10&conditions=id%3C%3D35&page=2>"
            ),
            "{link}"
        );

        let lq = q("pageSize=10&page=4&conditions=id%3C%3D35");
        let (link, ids) = body(page(&lq, sel.clone(), BASE));
        assert_eq!(ids, (31..=35).collect::<Vec<_>>());
        let link = link.expect("link");
        assert!(!link.contains("next"), "{link}");
        assert!(link.contains("page=3>; rel=\"prev\""), "{link}");
        assert!(link.contains("page=1>; rel=\"first\""), "{link}");

        let lq = q("");
        let (link, ids) = body(page(&lq, rows(3), BASE));
        assert_eq!(ids, vec![1, 2, 3]);
        assert!(link.is_none());
        assert_eq!(lq.page_size, 25);
    }

    #[test]
    fn page_size_limit_and_bad_params() {
        assert!(ListQuery::parse(&HeaderMap::new(), Some("pageSize=1000")).is_ok());
        let e = ListQuery::parse(&HeaderMap::new(), Some("pageSize=1001")).unwrap_err();
        assert!(matches!(e, ApiError::Invalid { .. }));
        assert!(ListQuery::parse(&HeaderMap::new(), Some("page=x")).is_err());
        assert!(ListQuery::parse(&HeaderMap::new(), Some("conditions=id%3D")).is_err());
        assert!(ListQuery::parse(&HeaderMap::new(), Some("orderBy=name%20up")).is_err());
    }

    #[test]
    fn order_by_and_fields() {
        let lq = q("orderBy=id%20desc&pageSize=2&fields=id");
        let sel = lq.select(rows(5).iter());
        let resp = page(&lq, sel, BASE);
        let v: Value = serde_json::from_slice(&futures_body(resp)).expect("json");
        assert_eq!(v, json!([{"id": 5}, {"id": 4}]));
    }

    #[test]
    fn forward_only() {
        let mut headers = HeaderMap::new();
        headers.insert("pagination-type", HeaderValue::from_static("forward-only"));
        let lq = ListQuery::parse(&headers, Some("pageSize=2&pageId=3")).expect("parses");
        let (link, ids) = body(page(&lq, lq.select(rows(6).iter()), BASE));
        assert_eq!(ids, vec![4, 5]);
        assert!(link.expect("link").contains("pageId=5>; rel=\"next\""));
        let lq = ListQuery::parse(&headers, Some("pageSize=2&pageId=5")).expect("parses");
        let (link, ids) = body(page(&lq, lq.select(rows(6).iter()), BASE));
        assert_eq!(ids, vec![6]);
        assert_eq!(link.as_deref(), Some(""));
        assert!(ListQuery::parse(&headers, Some("orderBy=name")).is_err());
    }
}
