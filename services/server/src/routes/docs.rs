//! `/docs`: a browsable API reference rendered on the server from the same OpenAPI document as
//! `openapi.yaml` (no scripts, no third-party assets, nothing fetched from elsewhere), and
//! `/docs/openapi.json` and `/docs/openapi.yaml` with the document itself.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;

/// The document, rendered once at start-up.
#[derive(Clone)]
pub struct Docs {
    html: Arc<str>,
    json: Arc<str>,
    yaml: Arc<str>,
}

impl Docs {
    /// Renders `doc`.
    pub fn new(doc: &utoipa::openapi::OpenApi) -> Self {
        let value = serde_json::to_value(doc).unwrap_or(Value::Null);
        Self {
            html: render(&value).into(),
            json: doc.to_pretty_json().unwrap_or_default().into(),
            yaml: doc.to_yaml().unwrap_or_default().into(),
        }
    }
}

/// `GET /docs`.
pub async fn page(State(d): State<Docs>) -> Html<String> {
    Html(d.html.to_string())
}

/// `GET /docs/openapi.json`.
pub async fn json(State(d): State<Docs>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        d.json.to_string(),
    )
        .into_response()
}

/// `GET /docs/openapi.yaml`.
pub async fn yaml(State(d): State<Docs>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/yaml")],
        d.yaml.to_string(),
    )
        .into_response()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Inline code spans (`…`) of the descriptions, escaped.
fn text(s: &str) -> String {
    esc(s)
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_owned()
            }
        })
        .collect()
}

fn schema_name(v: &Value) -> String {
    if let Some(r) = v["$ref"].as_str() {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    match v["type"].as_str() {
        Some("array") => format!("[{}]", schema_name(&v["items"])),
        Some(t) => t.to_owned(),
        None => "object".to_owned(),
    }
}

fn render(doc: &Value) -> String {
    let title = doc["info"]["title"].as_str().unwrap_or("API");
    let version = doc["info"]["version"].as_str().unwrap_or("");
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} API reference</title>\
         <style>body{{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}\
         code{{background:#f3f3f3;padding:0 .2em}}.op{{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;margin:1rem 0}}\
         .m{{font-weight:700;text-transform:uppercase;margin-right:.5rem}}table{{border-collapse:collapse}}td,th{{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}}</style>\
         </head><body><h1>{t} API reference <small>{v}</small></h1><p>{d}</p>\
         <p>The document: <a href=\"/docs/openapi.yaml\">openapi.yaml</a>, <a href=\"/docs/openapi.json\">openapi.json</a>.</p>",
        t = esc(title),
        v = esc(version),
        d = text(doc["info"]["description"].as_str().unwrap_or("")),
    );
    let tags: Vec<(String, String)> = doc["tags"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    (
                        t["name"].as_str().unwrap_or("").to_owned(),
                        t["description"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let empty = serde_json::Map::new();
    let paths = doc["paths"].as_object().unwrap_or(&empty);
    for (tag, about) in &tags {
        let _ = write!(
            h,
            "<h2 id=\"{0}\">{0}</h2><p>{1}</p>",
            esc(tag),
            text(about)
        );
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap_or(&empty) {
                let in_tag = op["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|x| x == tag.as_str()));
                if in_tag {
                    operation(&mut h, method, path, op);
                }
            }
        }
    }
    h.push_str("</body></html>");
    h
}

fn operation(h: &mut String, method: &str, path: &str, op: &Value) {
    let id = op["operationId"].as_str().unwrap_or("");
    let role = op["security"][0]
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .unwrap_or_else(|| "none".to_owned());
    let _ = write!(
        h,
        "<div class=\"op\" id=\"{id}\"><p><span class=\"m\">{m}</span><code>{p}</code> — <b>{s}</b></p>\
         <p>{d}</p><p>Key: <code>{r}</code> · operation <code>{id}</code></p>",
        id = esc(id),
        m = esc(method),
        p = esc(path),
        s = text(op["summary"].as_str().unwrap_or("")),
        d = text(op["description"].as_str().unwrap_or("")),
        r = esc(&role),
    );
    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        h.push_str(
            "<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>",
        );
        for p in params {
            let _ = write!(
                h,
                "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(p["name"].as_str().unwrap_or("")),
                if p["required"] == true {
                    " (required)"
                } else {
                    ""
                },
                esc(p["in"].as_str().unwrap_or("")),
                esc(&schema_name(&p["schema"])),
                text(p["description"].as_str().unwrap_or("")),
            );
        }
        h.push_str("</table>");
    }
    if let Some(body) = op["requestBody"]["content"]["application/json"]["schema"].as_object() {
        let _ = write!(
            h,
            "<p>Body: <code>{}</code></p>",
            esc(&schema_name(&Value::Object(body.clone())))
        );
    }
    h.push_str("<table><tr><th>status</th><th>meaning</th><th>body</th></tr>");
    for (status, r) in op["responses"].as_object().into_iter().flatten() {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(status),
            text(r["description"].as_str().unwrap_or("")),
            r["content"]["application/json"]["schema"]
                .as_object()
                .map(|s| esc(&schema_name(&Value::Object(s.clone()))))
                .unwrap_or_default(),
        );
    }
    h.push_str("</table></div>");
}
