//! Dependencies point inward (STYLE.md §1): `latchkey-core` depends on no web, gRPC or SQL
//! framework, and on no other Latchkey crate. Checked on the resolved dependency tree.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[test]
fn core_depends_on_no_framework() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "latchkey-core",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.len() > 5, "the tree was read: {tree}");
    let forbidden = [
        "axum", "tonic", "sqlx", "hyper", "tower", "prost", "reqwest", "http",
    ];
    for c in &crates {
        assert!(
            !forbidden
                .iter()
                .any(|f| c == f || c.starts_with(&format!("{f}-"))),
            "latchkey-core must not depend on {c}"
        );
        assert!(
            *c == "latchkey-core" || !c.starts_with("latchkey-"),
            "latchkey-core must not depend on {c}"
        );
    }
}
