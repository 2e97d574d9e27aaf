//! The request log ("ledger", §10.7), the client-conformance violations (§10.7.1) and the event
//! log. Secrets are rendered per `log.secrets` before anything is stored, so the admin API can
//! never leak a code, token, verifier or client secret in `hash` mode.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::show_secret;
use crate::settings::SecretLog;

/// Parameter and JSON keys whose values are secrets.
const SECRET_KEYS: &[&str] = &[
    "code",
    "code_verifier",
    "client_secret",
    "access_token",
    "refresh_token",
    "token",
    "id_token",
    "secret",
];

/// One logged Discord-facing exchange, shaped as the §10.7 example.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LogEntry {
    pub seq: u64,
    pub at: String,
    pub client_ip: String,
    pub method: String,
    pub path: String,
    pub api_version: Option<u32>,
    pub query: BTreeMap<String, String>,
    pub content_type: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub client_auth: Option<String>,
    pub client_id: Option<String>,
    pub form: Option<BTreeMap<String, String>>,
    pub json: Option<Value>,
    pub identity: Option<String>,
    pub status: u16,
    pub response: Value,
    pub rate_limit: Option<Value>,
    pub fault: Option<String>,
    pub duration_ms: u64,
    pub notes: Vec<String>,
    #[serde(skip)]
    pub user_id: Option<String>,
}

/// One client-conformance violation.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Violation {
    pub kind: String,
    pub detail: String,
    pub seq: u64,
    pub at: String,
    pub method: String,
    pub path: String,
    pub client_id: Option<String>,
}

/// Filters of `GET /__sim/requests`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LogFilter {
    pub since: Option<u64>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<u16>,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub limit: Option<usize>,
}

/// Ring buffer of entries plus violations and events.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    next_seq: u64,
    pub entries: VecDeque<LogEntry>,
    pub violations: Vec<Violation>,
    pub events: Vec<Value>,
}

impl Ledger {
    /// Reserves the next sequence number (starting at 1).
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub(crate) fn push(&mut self, entry: LogEntry, capacity: usize) {
        self.entries.push_back(entry);
        while self.entries.len() > capacity.max(1) {
            self.entries.pop_front();
        }
    }

    pub(crate) fn query(&self, f: &LogFilter) -> Vec<&LogEntry> {
        self.entries
            .iter()
            .filter(|e| f.since.is_none_or(|s| e.seq > s))
            .filter(|e| {
                f.method
                    .as_ref()
                    .is_none_or(|m| e.method.eq_ignore_ascii_case(m))
            })
            .filter(|e| f.path.as_ref().is_none_or(|p| path_matches(p, &e.path)))
            .filter(|e| f.status.is_none_or(|s| e.status == s))
            .filter(|e| {
                f.client_id
                    .as_ref()
                    .is_none_or(|c| e.client_id.as_ref() == Some(c))
            })
            .filter(|e| {
                f.user_id
                    .as_ref()
                    .is_none_or(|u| e.user_id.as_ref() == Some(u))
            })
            .take(f.limit.unwrap_or(usize::MAX))
            .collect()
    }
}

/// Prefix match, or a `*` glob when the pattern has one.
fn path_matches(pattern: &str, path: &str) -> bool {
    if pattern.contains('*') {
        crate::faults::glob(pattern, path)
    } else {
        path.starts_with(pattern)
    }
}

/// Pairs to a map with secret values rendered per `mode` (first value wins).
pub(crate) fn scrub_pairs(pairs: &[(String, String)], mode: SecretLog) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in pairs {
        let shown = if SECRET_KEYS.contains(&k.as_str()) {
            show_secret(v, mode)
        } else {
            v.clone()
        };
        out.entry(k.clone()).or_insert(shown);
    }
    out
}

/// A JSON value with secret string fields rendered per `mode`, recursively.
pub(crate) fn scrub_json(value: &Value, mode: SecretLog) -> Value {
    match value {
        Value::Object(map) => {
            let out: Map<String, Value> = map
                .iter()
                .map(|(k, v)| {
                    let v = match (v, SECRET_KEYS.contains(&k.as_str())) {
                        (Value::String(s), true) => Value::String(show_secret(s, mode)),
                        (other, _) => scrub_json(other, mode),
                    };
                    (k.clone(), v)
                })
                .collect();
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| scrub_json(v, mode)).collect()),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => value.clone(),
    }
}

/// A redirect target with secret query and fragment parameters rendered per `mode`.
pub(crate) fn scrub_location(location: &str, mode: SecretLog) -> String {
    let (base, fragment) = match location.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (location, None),
    };
    let scrub = |q: &str| {
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(q.as_bytes()).into_owned().collect();
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            let shown = if SECRET_KEYS.contains(&k.as_str()) {
                show_secret(v, mode)
            } else {
                v.clone()
            };
            ser.append_pair(k, &shown);
        }
        ser.finish()
    };
    let mut out = match base.split_once('?') {
        Some((path, q)) => format!("{path}?{}", scrub(q)),
        None => base.to_owned(),
    };
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(&scrub(f));
    }
    out
}
