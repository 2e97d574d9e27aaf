//! Query audit (security.md §6.2, test 2): every SQL statement in `latchkey-store` that touches
//! a tenant-owned table carries a `tenant_id` predicate (or, for inserts, column) bound from the
//! `TenantId` argument. The reviewed allow-list below names the cross-tenant statements; any new
//! unlisted statement fails this test.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

const SOURCE: &str = concat!(
    include_str!("../src/queries.rs"),
    include_str!("../src/tool_queries.rs"),
    include_str!("../src/auth_queries.rs")
);

/// Cross-tenant statements — the whole statement, exactly — each with why it may be.
const ALLOWED: &[(&str, &str)] = &[
    (
        "SELECT id, tenant_id, role, tool_id, pepper_id, key_hash, revoked_at FROM api_keys WHERE id = $1 UNION ALL SELECT id, NULL, 'operator', NULL, pepper_id, key_hash, revoked_at FROM operator_keys WHERE id = $1",
        "authentication looks a presented key up by its globally unique id",
    ),
    (
        "UPDATE api_keys SET pepper_id = $2, key_hash = $3 WHERE id = $1",
        "re-hash after authentication by key id",
    ),
    (
        "UPDATE api_keys SET last_used_at = $2 WHERE id = $1",
        "last-use stamp after authentication by key id",
    ),
    (
        " FROM tenant_keys ORDER BY tenant_id, version",
        "start-up key check and rotation cover every tenant",
    ),
    (
        "UPDATE pending_revocations SET next_attempt_at = $2 WHERE next_attempt_at <= $1 AND id IN (SELECT id FROM pending_revocations WHERE next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $3) RETURNING ",
        "the background task works off owed revocations of every tenant",
    ),
    (
        " FROM authorizations a JOIN flows f USING (tenant_id) WHERE f.start_token_hash = $1 AND f.authorization_id = a.id",
        "a browser's start link names its flow by a 256-bit capability (hash); no key, any tenant",
    ),
    (
        " FROM authorizations a JOIN flows f USING (tenant_id) WHERE f.state_hash = $1 AND f.authorization_id = a.id",
        "Discord's callback names its flow by a 256-bit `state` (hash); no key, any tenant",
    ),
    (
        " FROM authorizations a JOIN flows f USING (tenant_id) WHERE f.authorization_id = a.id AND f.phase NOT IN ('completed', 'failed', 'expired') AND (f.expires_at <= $1 OR (f.phase = 'exchanging' AND f.updated_at < $2)) ORDER BY f.expires_at LIMIT $3",
        "the reaper ends due flows of every tenant",
    ),
    (
        "DELETE FROM authorizations WHERE (tenant_id, id) IN (SELECT a.tenant_id, a.id FROM authorizations a WHERE a.status IN ('completed', 'failed') AND a.updated_at < $1 AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.tenant_id = a.tenant_id AND g.authorization_id = a.id AND g.status = 'active') LIMIT $2)",
        "the reaper purges every tenant's ended authorizations after the retention period",
    ),
    (
        "DELETE FROM verifier_tests WHERE (tenant_id, id) IN (SELECT tenant_id, id FROM verifier_tests WHERE expires_at < $1 LIMIT $2)",
        "the reaper purges every tenant's verifier self-tests after the retention period",
    ),
    (
        "SELECT tenant_id, id FROM grants WHERE status = 'active' AND refresh_token IS NOT NULL AND expires_at < $1 ORDER BY expires_at LIMIT $2",
        "the keep-alive refreshes every tenant's grants before they expire",
    ),
    (
        "DELETE FROM dashboard_sessions WHERE expires_at <= $1",
        "signing in drops every tenant's expired dashboard sessions",
    ),
    (
        "SELECT tenant_id, key_id, created_at, expires_at FROM dashboard_sessions WHERE id_hash = $1",
        "the dashboard's cookie names its session by a 256-bit secret (hash); no key, any tenant",
    ),
    (
        "DELETE FROM dashboard_sessions WHERE id_hash = $1 RETURNING tenant_id",
        "signing out names the session by its 256-bit secret (hash) and learns its tenant",
    ),
    (
        "SELECT COUNT(*) FROM providers WHERE client_id = $1 AND ref <> $2",
        "a Discord client id is registered once across tenants (P6)",
    ),
];

/// Statements in `src` that touch a tenant-owned table without binding `tenant_id`, and the
/// allow-list entries that matched nothing.
fn audit(src: &str) -> (Vec<String>, Vec<&'static str>) {
    let mut used = std::collections::HashSet::new();
    let mut unscoped = Vec::new();
    for stmt in literals(src)
        .into_iter()
        .filter(|l| tenant_owned().any(|t| touches(l, t)))
    {
        if let Some((allowed, _why)) = ALLOWED.iter().find(|(a, _)| *a == stmt) {
            used.insert(*allowed);
            continue;
        }
        let scoped = if stmt.trim_start().starts_with("INSERT") {
            stmt.contains("(tenant_id,")
        } else {
            stmt.contains("WHERE tenant_id = $")
        };
        if !scoped {
            unscoped.push(stmt);
        }
    }
    let stale = ALLOWED
        .iter()
        .map(|(a, _)| *a)
        .filter(|a| !used.contains(a))
        .collect();
    (unscoped, stale)
}

/// The string literals of the source, with `\`-newline continuations joined.
fn literals(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut lit = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' if chars.peek() == Some(&'\n') => {
                    chars.next();
                    while chars.peek().is_some_and(|c| c.is_whitespace()) {
                        chars.next();
                    }
                }
                other => lit.push(other),
            }
        }
        out.push(lit);
    }
    out
}

/// The tenant-owned tables and views.
fn tenant_owned() -> impl Iterator<Item = &'static str> {
    support::TENANT_OWNED_TABLES
        .into_iter()
        .chain(support::TENANT_OWNED_VIEWS)
}

fn touches(stmt: &str, table: &str) -> bool {
    ["FROM ", "INTO ", "UPDATE ", "JOIN "].iter().any(|kw| {
        stmt.contains(&format!("{kw}{table} ")) || stmt.ends_with(&format!("{kw}{table}"))
    })
}

#[test]
fn every_statement_on_a_tenant_owned_table_is_scoped() {
    let count = literals(SOURCE)
        .iter()
        .filter(|l| tenant_owned().any(|t| touches(l, t)))
        .count();
    assert!(count >= 15, "the audit found the statements: {count}");
    let (unscoped, stale) = audit(SOURCE);
    assert!(
        unscoped.is_empty(),
        "statements on tenant-owned tables without a tenant_id predicate: {unscoped:#?}"
    );
    assert!(
        stale.is_empty(),
        "allow-list entries that no longer match a statement: {stale:#?}"
    );
}

#[test]
fn the_audit_catches_unscoped_statements_and_near_misses_of_the_allow_list() {
    let bad = r#"
        sqlx::query("SELECT id FROM providers WHERE id = $1");
        sqlx::query("INSERT INTO api_keys (id, role) VALUES ($1, $2)");
        sqlx::query("DELETE FROM api_keys WHERE id = $1");
        sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1 OR 1 = 1");
    "#;
    let (unscoped, _) = audit(bad);
    assert_eq!(unscoped.len(), 4, "{unscoped:#?}");
}
