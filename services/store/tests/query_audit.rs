//! Query audit (security.md §6.2, test 2): every SQL statement in `latchkey-store` that touches
//! a tenant-owned table carries a `tenant_id` predicate (or, for inserts, column) bound from the
//! `TenantId` argument. The reviewed allow-list below names the cross-tenant statements; any new
//! unlisted statement fails this test.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

const SOURCE: &str = include_str!("../src/queries.rs");

/// Cross-tenant statements, each with why it may be.
const ALLOWED: &[(&str, &str)] = &[
    (
        "FROM api_keys WHERE id = $1",
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
        "FROM providers WHERE client_id = $1 AND ref <> $2",
        "a Discord client id is registered once across tenants (P6)",
    ),
];

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

fn touches(stmt: &str, table: &str) -> bool {
    ["FROM ", "INTO ", "UPDATE ", "JOIN "].iter().any(|kw| {
        stmt.contains(&format!("{kw}{table} ")) || stmt.ends_with(&format!("{kw}{table}"))
    })
}

#[test]
fn every_statement_on_a_tenant_owned_table_is_scoped() {
    let lits = literals(SOURCE);
    let statements: Vec<&String> = lits
        .iter()
        .filter(|l| support::TENANT_OWNED_TABLES.iter().any(|t| touches(l, t)))
        .collect();
    assert!(
        statements.len() >= 15,
        "the audit found the statements: {statements:#?}"
    );
    let mut used = std::collections::HashSet::new();
    for stmt in statements {
        if let Some((fragment, _why)) = ALLOWED.iter().find(|(f, _)| stmt.contains(f)) {
            used.insert(*fragment);
            continue;
        }
        let scoped = if stmt.trim_start().starts_with("INSERT") {
            stmt.contains("(tenant_id,")
        } else {
            stmt.contains("WHERE tenant_id = $")
        };
        assert!(
            scoped,
            "statement on a tenant-owned table without a tenant_id predicate:\n{stmt}"
        );
    }
    for (fragment, _) in ALLOWED {
        assert!(
            used.contains(fragment),
            "allow-list entry no longer matches any statement: {fragment}"
        );
    }
}

#[test]
fn the_audit_catches_an_unscoped_statement() {
    let bad = literals("sqlx::query(\"SELECT id FROM providers WHERE id = $1\")");
    assert!(touches(&bad[0], "providers") && !bad[0].contains("WHERE tenant_id = $"));
}
