//! Encryption at rest against real databases (security.md B1, §6.4): the barrier quartet —
//! confidential, integrity, move, nonce uniqueness — plus refusing unknown master keys and
//! online rotation while reads continue (R8, the `make test` part).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use latchkey_core::crypto::{CryptoError, KeyMaterial, KeySource, Keyring, Vault};
use latchkey_core::provider;
use latchkey_core::{CoreError, TenantId};
use secrecy::ExposeSecret;
use support::{TestDb, contains, new_provider, new_tenant, world};

async fn confidential(db: &TestDb) {
    let w = world(db);
    let canary = format!("canary-client-secret-{}", uuid::Uuid::now_v7().simple());
    let a = new_tenant(&w, "Acme").await;
    new_provider(&w, a.tenant.id, "p1", &canary).await;
    let op = latchkey_core::tenant::bootstrap_operator_key(w.store.as_ref(), &w.peppers)
        .await
        .unwrap()
        .unwrap();
    let mut secrets: Vec<Vec<u8>> = vec![canary.clone().into_bytes()];
    for key in [&a.admin_key, &a.app_key, &op] {
        let whole = key.expose_secret();
        secrets.push(whole.as_bytes().to_vec());
        secrets.push(whole.rsplit('_').next().unwrap().as_bytes().to_vec()); // the secret part alone
    }
    for table in support::TENANT_OWNED_TABLES
        .iter()
        .chain(&support::PLATFORM_TABLES)
    {
        for value in db.raw_values(table).await {
            for s in &secrets {
                assert!(
                    !contains(&value, s),
                    "a secret is stored in plaintext in {table}"
                );
            }
        }
    }
    let file = db.sqlite_file_bytes();
    for s in &secrets {
        assert!(!contains(&file, s), "a secret is in the raw SQLite file");
    }
}

async fn integrity(db: &TestDb) {
    let w = world(db);
    let t = new_tenant(&w, "Acme").await.tenant.id;
    let p = new_provider(&w, t, "p1", "the-secret").await;
    for i in [0, 3, 10, p.client_secret.len() - 1] {
        let mut flipped = p.client_secret.clone();
        flipped[i] ^= 0x01;
        db.set_client_secret(t, "p1", &flipped).await;
        let reread = w.store.get_provider(t, "p1").await.unwrap().unwrap();
        let err = provider::client_secret(&w.vault, t, &reread)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                CoreError::Crypto(
                    CryptoError::Tampered
                        | CryptoError::Malformed
                        | CryptoError::MissingDataKey { .. }
                )
            ),
            "byte {i}: {err:?}"
        );
    }
    db.set_client_secret(t, "p1", &p.client_secret).await;
    let reread = w.store.get_provider(t, "p1").await.unwrap().unwrap();
    assert_eq!(
        provider::client_secret(&w.vault, t, &reread)
            .await
            .unwrap()
            .expose_secret(),
        "the-secret"
    );
}

async fn moved(db: &TestDb) {
    let w = world(db);
    let a = new_tenant(&w, "Acme").await.tenant.id;
    let b = new_tenant(&w, "Bravo").await.tenant.id;
    let x = new_provider(&w, a, "x", "secret-x").await;
    new_provider(&w, a, "y", "secret-y").await;
    new_provider(&w, b, "x", "secret-bx").await;
    // To another row of the same tenant.
    db.set_client_secret(a, "y", &x.client_secret).await;
    let y = w.store.get_provider(a, "y").await.unwrap().unwrap();
    assert!(matches!(
        provider::client_secret(&w.vault, a, &y).await,
        Err(CoreError::Crypto(CryptoError::Tampered))
    ));
    // To another tenant's row with the same slug.
    db.set_client_secret(b, "x", &x.client_secret).await;
    let bx = w.store.get_provider(b, "x").await.unwrap().unwrap();
    assert!(matches!(
        provider::client_secret(&w.vault, b, &bx).await,
        Err(CoreError::Crypto(CryptoError::Tampered))
    ));
    // The original still opens.
    assert_eq!(
        provider::client_secret(&w.vault, a, &x)
            .await
            .unwrap()
            .expose_secret(),
        "secret-x"
    );
}

async fn nonce_uniqueness(db: &TestDb) {
    let w = world(db);
    let t = new_tenant(&w, "Acme").await.tenant.id;
    let aad = latchkey_core::crypto::Aad {
        table: "providers",
        row: "prv_x",
        column: "client_secret",
    };
    let one = w.vault.seal(t, aad, b"same value").await.unwrap();
    let two = w.vault.seal(t, aad, b"same value").await.unwrap();
    assert_ne!(one, two);
    assert_eq!(&*w.vault.open(t, aad, &one).await.unwrap(), b"same value");
    assert_eq!(&*w.vault.open(t, aad, &two).await.unwrap(), b"same value");
}

async fn aad_binds_table_row_and_column(db: &TestDb) {
    use latchkey_core::crypto::Aad;
    let w = world(db);
    let t = new_tenant(&w, "Acme").await.tenant.id;
    let here = Aad {
        table: "providers",
        row: "prv_1",
        column: "client_secret",
    };
    let sealed = w.vault.seal(t, here, b"value").await.unwrap();
    assert_eq!(&*w.vault.open(t, here, &sealed).await.unwrap(), b"value");
    for elsewhere in [
        Aad {
            table: "grants",
            ..here
        },
        Aad {
            row: "prv_2",
            ..here
        },
        Aad {
            column: "access_token",
            ..here
        },
    ] {
        assert!(
            matches!(
                w.vault.open(t, elsewhere, &sealed).await,
                Err(CryptoError::Tampered)
            ),
            "{elsewhere:?}"
        );
    }
}

async fn unknown_master_key_refused(db: &TestDb) {
    let w = world(db);
    new_tenant(&w, "Acme").await;
    assert_eq!(w.vault.check_all_unwrappable().await.unwrap(), 1);
    let stranger = Vault::new(
        Keyring::new(vec![KeyMaterial::generate()]).unwrap(),
        None,
        w.store.clone(),
    );
    let err = stranger.check_all_unwrappable().await.unwrap_err();
    let primary = w.vault.keyring().primary_id().0;
    assert!(
        err.to_string().contains(&primary) && err.to_string().contains("v1"),
        "{err}"
    );
}

struct SharedSource(Mutex<Vec<KeyMaterial>>);

impl KeySource for SharedSource {
    fn load(&self) -> Result<Keyring, String> {
        Keyring::new(self.0.lock().unwrap().clone()).ok_or_else(|| "empty".to_owned())
    }
}

async fn rotation_under_reads(db: &TestDb) {
    let old = KeyMaterial::generate();
    let new = KeyMaterial::generate();
    let store = db.store.store();
    let writer = Vault::new(
        Keyring::new(vec![old.clone()]).unwrap(),
        None,
        store.clone(),
    );
    let w = support::World {
        store: store.clone(),
        vault: writer,
        peppers: world(db).peppers,
    };
    let mut expected: Vec<(TenantId, provider::ProviderRecord, String)> = Vec::new();
    for i in 0..5 {
        let t = new_tenant(&w, &format!("tenant {i}")).await.tenant.id;
        let secret = format!("secret-{i}");
        expected.push((t, new_provider(&w, t, "p", &secret).await, secret));
    }

    // The "running server": knows only the old key, reloads its source when it meets a new one.
    let source = Arc::new(SharedSource(Mutex::new(vec![old.clone()])));
    let reader = Arc::new(Vault::new(
        Keyring::new(vec![old.clone()]).unwrap(),
        Some(source.clone()),
        store.clone(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let (reads, errors) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let expected = Arc::new(Mutex::new(expected));
    let task = {
        let (reader, stop, reads, errors, expected) = (
            reader.clone(),
            stop.clone(),
            reads.clone(),
            errors.clone(),
            expected.clone(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let rows = expected.lock().unwrap().clone();
                for (t, p, secret) in rows {
                    reader.forget_tenant(t).await; // force a fresh unwrap every time
                    match provider::client_secret(&reader, t, &p).await {
                        Ok(s) if s.expose_secret() == secret => {
                            reads.fetch_add(1, Ordering::SeqCst)
                        }
                        other => {
                            eprintln!("read failed during rotation: {:?}", other.err());
                            errors.fetch_add(1, Ordering::SeqCst)
                        }
                    };
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let settle = || async { tokio::time::sleep(std::time::Duration::from_millis(150)).await };

    settle().await;
    *source.0.lock().unwrap() = vec![old.clone(), new.clone()]; // (1) add as second entry
    settle().await;
    *source.0.lock().unwrap() = vec![new.clone(), old.clone()]; // (2) move to first
    let rotator = Vault::new(
        Keyring::new(vec![new.clone(), old.clone()]).unwrap(),
        None,
        store.clone(),
    );
    // (3) rotate, killed after two keys, then run again to completion.
    let killed =
        std::panic::AssertUnwindSafe(rotator.rotate(|done, _| assert!(done < 2, "killed midway")))
            .catch_unwind()
            .await;
    assert!(killed.is_err());
    let report = rotator.rotate(|_, _| {}).await.unwrap();
    assert_eq!(
        (report.total, report.rewrapped, report.already_current),
        (5, 3, 2)
    );
    let again = rotator.rotate(|_, _| {}).await.unwrap();
    assert_eq!(
        (again.rewrapped, again.already_current),
        (0, 5),
        "idempotent"
    );
    let new_id = rotator.keyring().primary_id();
    assert!(
        store
            .all_tenant_keys()
            .await
            .unwrap()
            .iter()
            .all(|(_, k)| k.wrapped.master_key_id == new_id)
    );
    settle().await;

    // A tenant created after rotation is wrapped by the new key; the reader picks it up too.
    let w2 = support::World {
        store: store.clone(),
        vault: rotator,
        peppers: w.peppers.clone(),
    };
    let t = new_tenant(&w2, "late").await.tenant.id;
    let p = new_provider(&w2, t, "p", "late-secret").await;
    expected
        .lock()
        .unwrap()
        .push((t, p, "late-secret".to_owned()));
    settle().await;
    *source.0.lock().unwrap() = vec![new.clone()]; // (4) remove the old key
    settle().await;

    stop.store(true, Ordering::SeqCst);
    task.await.unwrap();
    assert_eq!(
        errors.load(Ordering::SeqCst),
        0,
        "no crypto-caused error during rotation"
    );
    assert!(
        reads.load(Ordering::SeqCst) >= 30,
        "the read loop kept running"
    );

    // Removing a key that is still needed is refused, naming the key.
    let only_old = Vault::new(Keyring::new(vec![old]).unwrap(), None, store);
    let err = only_old.check_all_unwrappable().await.unwrap_err();
    assert!(err.to_string().contains(&new_id.0), "{err}");
}

on_both_stores! {
    barrier_confidential => confidential;
    barrier_integrity => integrity;
    barrier_move => moved;
    barrier_nonce_uniqueness => nonce_uniqueness;
    barrier_aad_binding => aad_binds_table_row_and_column;
    refuses_unknown_master_key => unknown_master_key_refused;
    rotation_while_reading => rotation_under_reads;
}
