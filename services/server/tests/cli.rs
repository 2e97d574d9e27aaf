//! The `latchkey` binary as an operator meets it: configuration validation and redaction,
//! key files (generated once, never silently regenerated), tenants and keys, rotation,
//! migrations on PostgreSQL, the operator key, JSON logs and graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use latchkey_core::crypto::KeyMaterial;
use support::{PgDb, Sandbox};

fn new_key() -> String {
    KeyMaterial::generate().to_base64().to_string()
}

#[test]
fn config_check_prints_effective_settings_with_secrets_redacted() {
    let master = new_key();
    let pepper = new_key();
    let operator = latchkey_core::apikey::NewKey::generate();
    let operator = secrecy::ExposeSecret::expose_secret(&operator.whole).to_owned();
    let sb = Sandbox::new()
        .with("LATCHKEY__ENCRYPTION__MASTER_KEYS", &master)
        .with("LATCHKEY__AUTH__PEPPERS", &format!("[\"{pepper}\"]"))
        .with("LATCHKEY__AUTH__OPERATOR_KEY", &operator)
        .with(
            "LATCHKEY__DATABASE__URL",
            "postgres://latchkey:hunter2@db.internal:5432/latchkey",
        )
        .with("LATCHKEY__SERVER__API_ADDR", "0.0.0.0:8081");
    let run = sb.run(&["config", "check"]).ok();
    for secret in [&master, &pepper, &operator, &"hunter2".to_owned()] {
        assert!(
            !run.stdout.contains(secret.as_str()) && !run.stderr.contains(secret.as_str()),
            "{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("[REDACTED]"));
    assert!(
        run.stdout
            .contains("postgres://latchkey:[REDACTED]@db.internal:5432/latchkey"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("api_addr = \"0.0.0.0:8081\""),
        "env overrides defaults:\n{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("auto_migrate = false"),
        "PostgreSQL does not auto-migrate by default"
    );
    assert!(
        run.stdout
            .contains("allow_unsafe_skip_verification = false"),
        "PostgreSQL deployments forbid skipping verification unless the operator allows it"
    );
}

#[test]
fn toml_file_then_environment() {
    let sb = Sandbox::new();
    let cfg = sb.path().join("latchkey.toml");
    std::fs::write(&cfg, "[server]\napi_addr = \"127.0.0.1:7000\"\nops_addr = \"127.0.0.1:7001\"\n[log]\nformat = \"json\"\n").unwrap();
    let run = sb
        .run(&["--config", cfg.to_str().unwrap(), "config", "check"])
        .ok();
    assert!(
        run.stdout.contains("127.0.0.1:7000") && run.stdout.contains("format = \"json\""),
        "{}",
        run.stdout
    );
    let sb = sb.with("LATCHKEY__SERVER__API_ADDR", "127.0.0.1:7100");
    let run = sb
        .run(&["--config", cfg.to_str().unwrap(), "config", "check"])
        .ok();
    assert!(
        run.stdout.contains("127.0.0.1:7100") && run.stdout.contains("127.0.0.1:7001"),
        "{}",
        run.stdout
    );
}

#[test]
fn bad_configuration_names_the_key() {
    type Case<'a> = (Vec<(&'a str, String)>, Option<&'a str>, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("LATCHKEY__SERVER__PORTT", "1".into())], None, "portt"),
        (
            vec![("LATCHKEY__DATABASE__MAX_CONNECTIONS", "lots".into())],
            None,
            "max_connections",
        ),
        (
            vec![("LATCHKEY__DATABASE__MAX_CONNECTIONS", "0".into())],
            None,
            "database.max_connections",
        ),
        (
            vec![("LATCHKEY__SERVER__API_ADDR", "localhost".into())],
            None,
            "api_addr",
        ),
        (
            vec![("LATCHKEY__DATABASE__URL", "mysql://x/y".into())],
            None,
            "database.url",
        ),
        (
            vec![("LATCHKEY__ENCRYPTION__MASTER_KEYS", "c2hvcnQ=".into())],
            None,
            "encryption.master_keys[0]: decodes to 5 bytes",
        ),
        (
            vec![(
                "LATCHKEY__ENCRYPTION__MASTER_KEYS",
                format!("[\"{}\", \"!!\"]", new_key()),
            )],
            None,
            "encryption.master_keys[1]",
        ),
        (
            vec![("LATCHKEY__AUTH__PEPPERS", "nope".into())],
            None,
            "auth.peppers[0]",
        ),
        (
            vec![("LATCHKEY__AUTH__OPERATOR_KEY", "arc_123".into())],
            None,
            "auth.operator_key",
        ),
        (
            vec![("LATCHKEY__LOG__FORMAT", "xml".into())],
            None,
            "format",
        ),
        (
            vec![("LATCHKEY__LOG__LEVEL", "info,=[".into())],
            None,
            "log.level",
        ),
        (
            vec![("LATCHKEY__SERVER__PUBLIC_URL", "ftp://x".into())],
            None,
            "server.public_url",
        ),
        (
            vec![("LATCHKEY__DISCORD__INVALID_REQUEST_BUDGET", "10001".into())],
            None,
            "discord.invalid_request_budget",
        ),
        (
            vec![("LATCHKEY__DISCORD__BREAKER_OPEN_SECS", "0".into())],
            None,
            "discord.breaker_open_secs",
        ),
        (vec![], Some("[server]\nbogus = 1\n"), "bogus"),
        (vec![], Some("[server\n"), "TOML"),
    ];
    for (env, file, needle) in cases {
        let mut sb = Sandbox::new();
        for (k, v) in &env {
            sb = sb.with(k, v);
        }
        let mut args = vec![];
        let path;
        if let Some(body) = file {
            path = sb.path().join("c.toml");
            std::fs::write(&path, body).unwrap();
            args.extend(["--config", path.to_str().unwrap()]);
        }
        args.extend(["config", "check"]);
        let run = sb.run(&args);
        assert_eq!(run.code, 2, "{env:?} {file:?}: {}", run.stderr);
        assert!(
            run.stderr.to_lowercase().contains(&needle.to_lowercase()),
            "{env:?} {file:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"));
    }
    Sandbox::new()
        .run(&["--config", "/nonexistent/latchkey.toml", "config", "check"])
        .refused("does not exist");
}

#[test]
fn tenant_create_prints_working_keys_once_and_lists() {
    let sb = Sandbox::new();
    let run = sb.run(&["tenant", "create", "Acme Agents", "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert!(v["tenant_id"].as_str().unwrap().starts_with("tnt_"));
    for role in ["admin_key", "app_key"] {
        let key = v[role].as_str().unwrap();
        assert!(
            latchkey_core::apikey::PresentedKey::parse(key).is_ok(),
            "{role}: {key}"
        );
    }
    // The keys are stored only as HMACs: not in the database file.
    let db = std::fs::read(sb.data("latchkey.db")).unwrap();
    let wal = std::fs::read(sb.data("latchkey.db-wal")).unwrap_or_default();
    for role in ["admin_key", "app_key"] {
        let key = v[role].as_str().unwrap().as_bytes();
        assert!(
            !db.windows(key.len()).any(|w| w == key) && !wal.windows(key.len()).any(|w| w == key)
        );
    }
    let text = sb.run(&["tenant", "create", "Bravo"]).ok().stdout;
    assert!(
        text.contains("admin key: lk_") && text.contains("app key:   lk_"),
        "{text}"
    );
    let list = sb.run(&["tenant", "list", "--json"]).ok().stdout;
    let list: serde_json::Value = serde_json::from_str(list.trim()).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    sb.run(&["tenant", "create", "  "]).refused_runtime("name");
}

trait RefusedRuntime {
    fn refused_runtime(self, needle: &str);
}

impl RefusedRuntime for support::Run {
    fn refused_runtime(self, needle: &str) {
        assert_eq!(self.code, 1, "{}", self.stderr);
        assert!(self.stderr.contains(needle), "{}", self.stderr);
    }
}

#[test]
fn key_files_are_generated_once_and_never_regenerated_over_data() {
    let sb = Sandbox::new();
    sb.run(&["tenant", "create", "Acme"]).ok();
    let master = std::fs::read_to_string(sb.data("master.key")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["master.key", "pepper.key"] {
            assert_eq!(
                std::fs::metadata(sb.data(f)).unwrap().permissions().mode() & 0o777,
                0o600,
                "{f}"
            );
        }
    }
    // Missing master-key file with data present: refuse, and do not create one.
    std::fs::rename(sb.data("master.key"), sb.path().join("saved.key")).unwrap();
    sb.run(&["tenant", "list"]).refused("master-key file");
    assert!(
        !sb.data("master.key").exists(),
        "no silently regenerated key"
    );
    // Corrupt file: names the line.
    std::fs::write(sb.data("master.key"), "# header\nnot-a-key\n").unwrap();
    sb.run(&["tenant", "list"]).refused("line 2");
    // Wrong-length key.
    std::fs::write(sb.data("master.key"), "c2hvcnQ=\n").unwrap();
    sb.run(&["tenant", "list"]).refused("32 bytes");
    // A different, valid key: refuse, naming the key that is needed and the data-key version.
    std::fs::write(sb.data("master.key"), format!("{}\n", new_key())).unwrap();
    let run = sb.run(&["tenant", "list"]).refused("unknown_master_key");
    assert!(
        run.stderr.contains("data key v1") && run.stderr.contains("mk_"),
        "{}",
        run.stderr
    );
    // Restored: works again.
    std::fs::write(sb.data("master.key"), &master).unwrap();
    sb.run(&["tenant", "list"]).ok();
    // Missing pepper file with keys present: refuse.
    std::fs::remove_file(sb.data("pepper.key")).unwrap();
    sb.run(&["tenant", "list"]).refused("pepper file");
}

#[test]
fn rotate_adds_a_key_rewraps_and_prunes() {
    let sb = Sandbox::new();
    for n in ["A", "B", "C"] {
        sb.run(&["tenant", "create", n]).ok();
    }
    let keys = |sb: &Sandbox| {
        std::fs::read_to_string(sb.data("master.key"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .count()
    };
    assert_eq!(keys(&sb), 1);
    let run = sb.run(&["keys", "rotate"]).ok();
    assert!(
        run.stdout.contains("3 data keys, 3 re-wrapped now"),
        "{}",
        run.stdout
    );
    assert_eq!(keys(&sb), 2);
    let run = sb.run(&["keys", "rotate", "--no-new-key"]).ok();
    assert!(
        run.stdout.contains("0 re-wrapped now, 3 already"),
        "{}",
        run.stdout
    );
    let run = sb.run(&["keys", "prune"]).ok();
    assert!(run.stdout.contains("removed 1 unused"), "{}", run.stdout);
    assert_eq!(keys(&sb), 1);
    // Everything still opens under the one remaining (new) key.
    sb.run(&["tenant", "create", "D"]).ok();
    let list = sb.run(&["tenant", "list"]).ok().stdout;
    assert_eq!(list.lines().count(), 4);
}

#[test]
fn rotate_with_configured_keys_moves_to_the_first_entry() {
    let (old, new) = (new_key(), new_key());
    let pepper = new_key();
    let dir = tempfile::tempdir().unwrap();
    // The same data directory, started with a given master-key list each time.
    let with_masters = |masters: &[&str]| {
        let list = masters
            .iter()
            .map(|k| format!("\"{k}\""))
            .collect::<Vec<_>>()
            .join(",");
        Sandbox {
            dir: tempfile::TempDir::new_in(dir.path()).unwrap(),
            env: vec![],
        }
        .with("LATCHKEY__DATA_DIR", dir.path().to_str().unwrap())
        .with("LATCHKEY__AUTH__PEPPERS", &pepper)
        .with("LATCHKEY__ENCRYPTION__MASTER_KEYS", &format!("[{list}]"))
    };
    with_masters(&[&old]).run(&["tenant", "create", "A"]).ok();
    // (1) new key second, (2) moved first, (3) rotate, (4) old key removed.
    with_masters(&[&old, &new]).run(&["tenant", "list"]).ok();
    let run = with_masters(&[&new, &old]).run(&["keys", "rotate"]).ok();
    assert!(run.stdout.contains("1 re-wrapped now"), "{}", run.stdout);
    with_masters(&[&new]).run(&["tenant", "list"]).ok();
    // Dropping the key still in use is refused, naming it.
    with_masters(&[&old])
        .run(&["tenant", "list"])
        .refused("unknown_master_key");
    assert!(
        !dir.path().join("master.key").exists(),
        "configured keys never create a key file"
    );
}

#[test]
fn serve_prints_the_operator_key_once_logs_json_and_stops_on_sigterm() {
    let sb = Sandbox::new()
        .with("LATCHKEY__LOG__FORMAT", "json")
        .with("LATCHKEY__LOG__LEVEL", "info");
    let first = sb.serve();
    let out = first.stop();
    assert_eq!(out.code, 0, "graceful exit on SIGTERM: {}", out.stderr);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("Platform operator key"))
        .expect("operator key printed");
    let key = line.rsplit(' ').next().unwrap();
    assert!(latchkey_core::apikey::PresentedKey::parse(key).is_ok());
    assert!(
        !out.stderr.contains(key),
        "the key never reaches a log line"
    );
    for l in out.stderr.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v.get("level").is_some(), "{l}");
    }
    assert!(out.stderr.contains("shutting down"), "{}", out.stderr);
    let second = sb.serve().stop();
    assert!(
        !second.stdout.contains("Platform operator key"),
        "shown once only:\n{}",
        second.stdout
    );
}

#[tokio::test]
async fn postgres_needs_migrate_then_serves() {
    let Some(db) = PgDb::create().await else {
        return;
    };
    let url = db.url.clone();
    let sb = Sandbox::new()
        .with("LATCHKEY__DATABASE__URL", &url)
        .with("LATCHKEY__ENCRYPTION__MASTER_KEYS", &new_key())
        .with("LATCHKEY__AUTH__PEPPERS", &new_key());
    let (a, b, c, d) = tokio::task::spawn_blocking(move || {
        let a = sb.run(&["tenant", "list"]);
        let b = sb.run(&["migrate"]);
        let c = sb.run(&["migrate"]);
        let t = sb.run(&["tenant", "create", "Acme", "--json"]);
        assert_eq!(t.code, 0, "{}", t.stderr);
        // Without configured keys, PostgreSQL never falls back to generating key files.
        let d = Sandbox::new()
            .with("LATCHKEY__DATABASE__URL", &url)
            .run(&["tenant", "list"]);
        (a, b, c, d)
    })
    .await
    .unwrap();
    a.refused("latchkey migrate");
    // Every migration in the tree, by its version.
    let mut versions: Vec<i64> = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../migrations/postgres"
    ))
    .unwrap()
    .map(|f| {
        let name = f.unwrap().file_name().into_string().unwrap();
        name.split('_').next().unwrap().parse().unwrap()
    })
    .collect();
    versions.sort_unstable();
    assert!(versions.len() >= 12, "{versions:?}");
    let applied = b.ok().stdout;
    assert!(
        applied.contains(&format!("applied migrations {versions:?}")),
        "{applied}"
    );
    assert!(c.ok().stdout.contains("up to date"));
    d.refused("encryption.master_keys");
    db.drop_now().await;
}

#[test]
fn wrong_database_url_is_a_clear_startup_error() {
    let port = support::free_port();
    Sandbox::new()
        .with(
            "LATCHKEY__DATABASE__URL",
            &format!("postgres://nobody@127.0.0.1:{port}/x"),
        )
        .with("LATCHKEY__DATABASE__ACQUIRE_TIMEOUT_SECS", "1")
        .with("LATCHKEY__ENCRYPTION__MASTER_KEYS", &new_key())
        .with("LATCHKEY__AUTH__PEPPERS", &new_key())
        .run(&["tenant", "list"])
        .refused("could not open the database");
}

#[test]
fn keys_generate_prints_usable_material() {
    let sb = Sandbox::new();
    let k = sb.run(&["keys", "generate"]).ok().stdout;
    assert!(KeyMaterial::from_base64(k.trim()).is_ok());
    let op = sb.run(&["keys", "new-operator-key"]).ok().stdout;
    assert!(latchkey_core::apikey::PresentedKey::parse(op.trim()).is_ok());
}

#[tokio::test]
async fn start_up_warns_about_tenants_that_skip_user_verification() {
    let sb = std::sync::Arc::new(Sandbox::new());
    let sb2 = sb.clone();
    let t = tokio::task::spawn_blocking(move || sb2.run(&["tenant", "create", "Acme", "--json"]))
        .await
        .unwrap();
    assert_eq!(t.code, 0, "{}", t.stderr);
    let created: serde_json::Value = serde_json::from_str(&t.stdout).unwrap();
    let tenant = created["tenant_id"].as_str().unwrap().to_owned();
    let admin = created["admin_key"].as_str().unwrap().to_owned();
    let (server, sb) = tokio::task::spawn_blocking(move || (sb.serve(), sb))
        .await
        .unwrap();
    let r = ::reqwest::Client::new()
        .put(format!(
            "{}/v1/admin/settings/session_verification",
            server.api
        ))
        .header("authorization", admin)
        .json(&serde_json::json!({"unsafe_skip_verification": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let first = tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    assert!(
        !first.stderr.contains("unsafe_skip_verification set"),
        "{}",
        first.stderr
    );
    let second = tokio::task::spawn_blocking(move || sb.serve().stop())
        .await
        .unwrap();
    let warning = second
        .stderr
        .lines()
        .find(|l| l.contains("unsafe_skip_verification set"))
        .unwrap_or_else(|| panic!("no warning: {}", second.stderr));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains(&tenant), "{warning}");
}
