//! Fault rules (§10.9): matchers on method, path glob, grant type, client, user and client IP;
//! `nth`/`count` triggers; and the actions the entry point carries out (status answers, 429s,
//! delays, hangs, dropped connections, token-response mutations, IP bans).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};

use crate::http::{api_error, html, json_response, set_header};

/// What a rule matches; absent or `null` fields match anything.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Match {
    pub method: Option<String>,
    pub path: Option<String>,
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub client_ip: Option<String>,
}

fn one() -> Option<u64> {
    Some(1)
}

fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<u64>::deserialize(d)
}

/// When a matching rule fires: from the `nth` match on, `count` times (`null` = unlimited).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Trigger {
    #[serde(default)]
    pub nth: Option<u64>,
    #[serde(default = "one", deserialize_with = "nullable")]
    pub count: Option<u64>,
}

impl Default for Trigger {
    fn default() -> Self {
        Self {
            nth: None,
            count: Some(1),
        }
    }
}

/// 429 scope of a `rate_limit` action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Scope {
    #[default]
    User,
    Global,
    Shared,
}

/// What a firing rule does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Action {
    Status {
        status: u16,
        #[serde(default)]
        body: Option<Value>,
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
    RateLimit {
        retry_after: f64,
        #[serde(default)]
        scope: Scope,
        #[serde(default)]
        burst: Option<u64>,
    },
    Delay {
        ms: u64,
    },
    Hang,
    Drop,
    CommitThenDrop,
    BanIp,
    MutateTokenResponse {
        #[serde(default)]
        set: Map<String, Value>,
        #[serde(default)]
        remove: Vec<String>,
    },
}

/// One rule, as posted, plus its counters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultRule {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(rename = "match", default)]
    pub matcher: Match,
    #[serde(default)]
    pub trigger: Trigger,
    pub action: Action,
    #[serde(default)]
    pub matched: u64,
    #[serde(default)]
    pub fired: u64,
}

/// The facts of a request that rules match on.
#[derive(Debug, Default)]
pub(crate) struct FaultInput {
    pub method: String,
    pub path: String,
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub client_ip: String,
}

/// Rules in creation order.
#[derive(Debug, Default)]
pub(crate) struct FaultBook {
    pub rules: Vec<FaultRule>,
    next_id: u64,
}

impl FaultBook {
    pub(crate) fn add(&mut self, mut rule: FaultRule) -> FaultRule {
        self.next_id += 1;
        if rule.id.is_none() {
            rule.id = Some(format!("f{}", self.next_id));
        }
        if let Action::RateLimit { burst: Some(n), .. } = rule.action {
            rule.trigger.count = Some(n);
        }
        rule.matched = 0;
        rule.fired = 0;
        self.rules.retain(|r| r.id != rule.id);
        self.rules.push(rule.clone());
        rule
    }

    /// The first rule that matches and fires, with its id.
    pub(crate) fn pick(&mut self, input: &FaultInput) -> Option<(String, Action)> {
        for rule in &mut self.rules {
            if !rule.matcher.matches(input) {
                continue;
            }
            rule.matched += 1;
            let started = rule.matched >= rule.trigger.nth.unwrap_or(1);
            let budget = rule.trigger.count.is_none_or(|c| rule.fired < c);
            if started && budget {
                rule.fired += 1;
                return Some((rule.id.clone().unwrap_or_default(), rule.action.clone()));
            }
        }
        None
    }
}

impl Match {
    fn matches(&self, i: &FaultInput) -> bool {
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| Some(w) == have)
        };
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(&i.method))
            && self.path.as_deref().is_none_or(|p| glob(p, &i.path))
            && eq(&self.grant_type, i.grant_type.as_deref())
            && eq(&self.client_id, i.client_id.as_deref())
            && eq(&self.user_id, i.user_id.as_deref())
            && eq(&self.client_ip, Some(i.client_ip.as_str()))
    }
}

/// `*` matches any run of characters (including `/`); everything else literally.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|&i| rest.is_char_boundary(i))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

/// The answer of a `status` action.
pub(crate) fn status_response(
    status: u16,
    body: Option<&Value>,
    headers: &BTreeMap<String, String>,
) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match (body, status) {
        (Some(Value::String(text)), _) => html(code, text.clone()),
        (Some(value), _) => json_response(code, value),
        (None, 502) => html(code, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>".to_owned()),
        (None, 503) => api_error(code, 130_000, "API resource is currently overloaded. Try again a little later"),
        (None, 500) => api_error(code, 0, "500: Internal Server Error"),
        (None, _) => api_error(code, 0, &format!("{status}: {}", code.canonical_reason().unwrap_or("Error"))),
    };
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::try_from(name.as_str()),
            axum::http::HeaderValue::from_str(value),
        ) {
            resp.headers_mut().insert(n, v);
        }
    }
    resp
}

/// A §7.2 429 answer for `scope`.
pub(crate) fn too_many(retry_after: f64, scope: Scope) -> Response {
    let (message, global) = match scope {
        Scope::User => ("You are being rate limited.", false),
        Scope::Global => ("You are being rate limited.", true),
        Scope::Shared => ("The resource is being rate limited.", false),
    };
    let retry_after = (retry_after * 1000.0).round() / 1000.0;
    let mut resp = json_response(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({"message": message, "retry_after": retry_after, "global": global}),
    );
    set_header(
        &mut resp,
        "retry-after",
        &format!("{}", retry_after.ceil().max(0.0) as u64),
    );
    let scope_name = match scope {
        Scope::User => "user",
        Scope::Global => "global",
        Scope::Shared => "shared",
    };
    set_header(&mut resp, "x-ratelimit-scope", scope_name);
    if global {
        set_header(&mut resp, "x-ratelimit-global", "true");
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("/api/*/oauth2/token", "/api/v10/oauth2/token"));
        assert!(glob("/api/*", "/api/oauth2/token"));
        assert!(!glob("/api/*/oauth2/token", "/api/oauth2/token/revoke"));
        assert!(glob("*", ""));
    }

    #[test]
    fn triggers_count_and_nth() {
        let rule: FaultRule = serde_json::from_value(json!({
            "match": {"path": "/x"}, "trigger": {"nth": 2, "count": null},
            "action": {"kind": "delay", "ms": 1}}))
        .unwrap();
        assert_eq!(rule.trigger.count, None);
        let mut book = FaultBook::default();
        book.add(rule);
        let input = FaultInput {
            path: "/x".into(),
            ..FaultInput::default()
        };
        assert!(book.pick(&input).is_none());
        assert!(book.pick(&input).is_some());
        assert!(book.pick(&input).is_some());
    }
}
