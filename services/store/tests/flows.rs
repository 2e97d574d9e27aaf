//! Conformance of the authorization port on SQLite and PostgreSQL (specs/security.md §2.5):
//! every flow move is a conditional update that succeeds once; capabilities are found by their
//! hash (across tenants, with the tenant named) and `flow_id`s only within the tenant; a flow's
//! ending writes its phase, the authorization's status, the grant it activates (replacing the
//! older one) and its revocations together; the reaper sees due flows only; a grant locked for
//! a refresh takes its new tokens once per generation.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use latchkey_core::authorization::{
    AuthorizationRecord, AuthorizationStatus, Finish, FlowRecord, Phase, capability_hash,
};
use latchkey_core::cache::Change;
use latchkey_core::grant::{GrantRecord, GrantStatus};
use latchkey_core::ports::{GrantFilter, TokenUpdate};
use latchkey_core::time::UnixMillis;
use latchkey_core::{AuthorizationId, GrantId, ProviderRef};
use support::{TestDb, audit_event, new_provider, new_tenant, pack, world};

fn records(provider: ProviderRef, user: &str, ttl_ms: i64) -> (AuthorizationRecord, FlowRecord) {
    let now = UnixMillis::now();
    let id = AuthorizationId::generate();
    (
        AuthorizationRecord {
            id,
            user_id: user.to_owned(),
            provider,
            scopes: vec!["guilds".to_owned(), "identify".to_owned()],
            next_uri: None,
            status: AuthorizationStatus::Pending,
            failure_reason: None,
            created_at: now,
            updated_at: now,
            expires_at: UnixMillis(now.0 + ttl_ms),
        },
        FlowRecord {
            phase: Phase::LinkIssued,
            start_token_hash: capability_hash(&format!("start-{id}")),
            start_token: b"sealed".to_vec(),
            binding_hash: None,
            state_hash: None,
            pkce_verifier: None,
            flow_id_hash: None,
            quarantined: None,
            discord_user_id: None,
            decision: None,
            decided_user_hash: None,
            updated_at: now,
        },
    )
}

fn grant(
    provider: ProviderRef,
    user: &str,
    discord: &str,
    a: Option<AuthorizationId>,
) -> GrantRecord {
    let now = UnixMillis::now();
    GrantRecord {
        id: GrantId::generate(),
        user_id: user.to_owned(),
        provider,
        discord_user_id: discord.to_owned(),
        user_info: b"info".to_vec(),
        scopes: vec!["guilds".to_owned()],
        access_token: b"access".to_vec(),
        refresh_token: Some(b"refresh".to_vec()),
        expires_at: UnixMillis(now.0 + 60_000),
        generation: 0,
        status: GrantStatus::Active,
        created_at: now,
        updated_at: now,
        authorization: a,
        cooldown_until: None,
    }
}

fn ending(phase: Phase, g: Option<GrantRecord>, replaces: Vec<GrantId>) -> Finish {
    Finish {
        phase,
        failure_reason: (phase != Phase::Completed).then(|| "test".to_owned()),
        grant: g,
        replaces,
        revocations: Vec::new(),
        decision: Some(("completed".to_owned(), vec![1, 2, 3])),
        audit: vec![audit_event()],
    }
}

async fn flows(db: &TestDb) {
    let w = world(db);
    let t = new_tenant(&w, "Acme").await.tenant.id;
    let other = new_tenant(&w, "Other").await.tenant.id;
    let p = new_provider(&w, t, "discord-prod", "secret-secret-secret").await;
    let s = w.store.as_ref();
    let (a, f) = records(p.id, "alice", 600_000);
    s.insert_authorization(t, &a, &f, &audit_event())
        .await
        .unwrap();

    // Found by the start token's hash, with the tenant; not through another tenant.
    let (found_t, found_a, found_f) = s
        .flow_by_start_token(&f.start_token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found_t, &found_a, &found_f), (t, &a, &f));
    assert!(s.get_authorization(other, a.id).await.unwrap().is_none());
    assert_eq!(
        s.reusable_authorizations(t, "alice", p.id, UnixMillis::now())
            .await
            .unwrap()
            .len(),
        1
    );

    // The click: link_issued → awaiting_callback, once.
    let bound = FlowRecord {
        phase: Phase::AwaitingCallback,
        binding_hash: Some(capability_hash("binding")),
        state_hash: Some(capability_hash("state-1")),
        pkce_verifier: Some(b"sealed verifier".to_vec()),
        ..f.clone()
    };
    assert!(
        s.advance_flow(t, a.id, Phase::LinkIssued, None, &bound)
            .await
            .unwrap()
    );
    assert!(
        !s.advance_flow(t, a.id, Phase::LinkIssued, None, &bound)
            .await
            .unwrap()
    );
    assert!(
        !s.advance_flow(other, a.id, Phase::AwaitingCallback, None, &bound)
            .await
            .unwrap()
    );
    assert!(
        s.reusable_authorizations(t, "alice", p.id, UnixMillis::now())
            .await
            .unwrap()
            .is_empty()
    );
    // The callback: only with the current state.
    let (_, _, by_state) = s
        .flow_by_state(&capability_hash("state-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_state.binding_hash, bound.binding_hash);
    let exchanging = FlowRecord {
        phase: Phase::Exchanging,
        ..bound.clone()
    };
    let stale = capability_hash("state-0");
    assert!(
        !s.advance_flow(t, a.id, Phase::AwaitingCallback, Some(&stale), &exchanging)
            .await
            .unwrap()
    );
    let current = capability_hash("state-1");
    assert!(
        s.advance_flow(
            t,
            a.id,
            Phase::AwaitingCallback,
            Some(&current),
            &exchanging
        )
        .await
        .unwrap()
    );
    let verifying = FlowRecord {
        phase: Phase::AwaitingVerification,
        flow_id_hash: Some(capability_hash("flow-id")),
        quarantined: Some(b"sealed tokens".to_vec()),
        discord_user_id: Some("81".to_owned()),
        ..exchanging.clone()
    };
    assert!(
        s.advance_flow(t, a.id, Phase::Exchanging, None, &verifying)
            .await
            .unwrap()
    );
    assert!(
        s.flow_by_flow_id(other, &capability_hash("flow-id"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.flow_by_flow_id(t, &capability_hash("flow-id"))
            .await
            .unwrap()
            .is_some()
    );

    // The decision replaces alice's older grant with the new one, once.
    let old = grant(p.id, "alice", "80", None);
    s.insert_grant(t, &old, &audit_event()).await.unwrap();
    let new = grant(p.id, "alice", "81", Some(a.id));
    let done = ending(Phase::Completed, Some(new.clone()), vec![old.id]);
    assert!(
        s.finish_flow(t, a.id, Phase::AwaitingVerification, &done)
            .await
            .unwrap()
    );
    assert!(
        !s.finish_flow(t, a.id, Phase::AwaitingVerification, &done)
            .await
            .unwrap()
    );
    let (a2, f2) = s.get_authorization(t, a.id).await.unwrap().unwrap();
    assert_eq!(a2.status, AuthorizationStatus::Completed);
    assert_eq!(f2.phase, Phase::Completed);
    assert_eq!(f2.quarantined, None, "quarantined tokens are gone");
    assert_eq!(f2.decision.as_deref(), Some("completed"));
    let grants = s
        .list_grants(
            t,
            &GrantFilter {
                user_id: Some("alice".to_owned()),
                provider: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].id, new.id);
    assert_eq!(grants[0].authorization, Some(a.id));

    // The reaper sees only flows that are due.
    let (due_a, due_f) = records(p.id, "bob", -1);
    s.insert_authorization(t, &due_a, &due_f, &audit_event())
        .await
        .unwrap();
    let due = s
        .due_flows(UnixMillis::now(), UnixMillis(0), 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|(_, a, _)| a.id).collect::<Vec<_>>(),
        vec![due_a.id]
    );
    assert!(
        s.finish_flow(
            t,
            due_a.id,
            Phase::LinkIssued,
            &ending(Phase::Expired, None, vec![])
        )
        .await
        .unwrap()
    );
    assert!(
        s.due_flows(UnixMillis::now(), UnixMillis(0), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let (expired, _) = s.get_authorization(t, due_a.id).await.unwrap().unwrap();
    assert_eq!(expired.status, AuthorizationStatus::Failed);

    // Purging: the expired authorization goes (with its flow); the one behind alice's active
    // grant stays.
    let later = UnixMillis(UnixMillis::now().0 + 1_000);
    assert_eq!(s.purge_authorizations(later, 100).await.unwrap(), 1);
    assert!(s.get_authorization(t, due_a.id).await.unwrap().is_none());
    assert!(
        s.flow_by_start_token(&due_f.start_token_hash)
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.get_authorization(t, a.id).await.unwrap().is_some());

    // A locked grant takes new tokens once per generation.
    let lock = s.lock_grant(t, new.id).await.unwrap().unwrap();
    assert_eq!(lock.grant().generation, 0);
    let update = TokenUpdate {
        access_token: b"access-2".to_vec(),
        refresh_token: Some(b"refresh-2".to_vec()),
        expires_at: UnixMillis(UnixMillis::now().0 + 3_600_000),
        scopes: vec!["guilds".to_owned()],
    };
    assert!(lock.store_tokens(&update).await.unwrap());
    let stale_lock = s.lock_grant(t, new.id).await.unwrap().unwrap();
    assert_eq!(stale_lock.grant().generation, 1);
    assert_eq!(stale_lock.grant().access_token, b"access-2");
    drop(stale_lock);
    assert!(s.lock_grant(other, new.id).await.unwrap().is_none());
    let lock = s.lock_grant(t, new.id).await.unwrap().unwrap();
    assert!(lock.reauth_required(&audit_event()).await.unwrap());
    let g = s.get_grant(t, new.id).await.unwrap().unwrap();
    assert_eq!(g.status, GrantStatus::ReauthRequired);
}

/// Every notice heard in-process until 200 ms pass without one.
async fn drain(rx: &mut tokio::sync::broadcast::Receiver<Change>) -> Vec<Change> {
    let mut out = Vec::new();
    while let Ok(Some(c)) = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        latchkey_store::next_change(rx),
    )
    .await
    {
        out.push(c);
    }
    out
}

/// Every write that changes a grant's tokens or ends it announces `Change::Grant` once it
/// commits (the warm-token caches of every replica drop it); one that does not commit announces
/// nothing.
async fn grant_notices(db: &TestDb) {
    let w = world(db);
    let t = new_tenant(&w, "Acme").await.tenant.id;
    let p = new_provider(&w, t, "discord-prod", "secret-secret-secret").await;
    let s = w.store.as_ref();
    let old = grant(p.id, "alice", "d-alice", None);
    s.insert_grant(t, &old, &audit_event()).await.unwrap();
    let mut rx = db.store.changes();

    // A refresh: announced.
    let update = TokenUpdate {
        access_token: b"access-2".to_vec(),
        refresh_token: Some(b"refresh-2".to_vec()),
        expires_at: UnixMillis(UnixMillis::now().0 + 3_600_000),
        scopes: vec!["guilds".to_owned()],
    };
    let lock = s.lock_grant(t, old.id).await.unwrap().unwrap();
    assert!(lock.store_tokens(&update).await.unwrap());
    assert_eq!(drain(&mut rx).await, [Change::Grant(t, old.id)]);
    // Re-authorization required: announced once; the same write again changes nothing and
    // announces nothing.
    let lock = s.lock_grant(t, old.id).await.unwrap().unwrap();
    assert!(lock.reauth_required(&audit_event()).await.unwrap());
    assert_eq!(drain(&mut rx).await, [Change::Grant(t, old.id)]);
    let lock = s.lock_grant(t, old.id).await.unwrap().unwrap();
    assert!(!lock.reauth_required(&audit_event()).await.unwrap());
    assert_eq!(drain(&mut rx).await, []);

    // A completed flow that replaces the old grant: the old grant, then the authorization.
    let (a, f) = records(p.id, "alice", 600_000);
    s.insert_authorization(t, &a, &f, &audit_event())
        .await
        .unwrap();
    let new = grant(p.id, "alice", "d-alice", Some(a.id));
    assert!(
        s.finish_flow(
            t,
            a.id,
            Phase::LinkIssued,
            &ending(Phase::Completed, Some(new.clone()), vec![old.id])
        )
        .await
        .unwrap()
    );
    assert_eq!(
        drain(&mut rx).await,
        [Change::Grant(t, old.id), Change::Authorization(t, a.id)]
    );

    // Deleting a connection.
    s.delete_grant(t, new.id, None, &audit_event())
        .await
        .unwrap();
    assert_eq!(drain(&mut rx).await, [Change::Grant(t, new.id)]);
}

/// The audit pipeline's batch write: all events in one go; a retried batch adds nothing twice;
/// a deleted tenant's events go with it instead of failing the batch.
async fn audit_batches(db: &TestDb) {
    let w = world(db);
    let t = new_tenant(&w, "Acme").await.tenant.id;
    let gone = new_tenant(&w, "Gone").await.tenant.id;
    let s = w.store.as_ref();
    s.delete_tenant(gone, &[], &audit_event()).await.unwrap();
    let release = |n: usize| {
        let mut e = audit_event();
        e.action = "token.release".to_owned();
        e.target = Some(format!("grant-{n}"));
        e
    };
    let batch: Vec<_> = (0..3)
        .map(|n| (t, release(n)))
        .chain(std::iter::once((gone, release(9))))
        .collect();
    s.record_audits(&pack(&batch)).await.unwrap();
    s.record_audits(&pack(&batch)).await.unwrap();
    let filter = latchkey_core::audit::AuditFilter {
        action: Some("token.release".to_owned()),
        ..Default::default()
    };
    let stored = s.list_audit_events(t, &filter).await.unwrap();
    let targets: Vec<_> = stored.iter().filter_map(|e| e.target.clone()).collect();
    assert_eq!(targets, ["grant-0", "grant-1", "grant-2"]);
    assert!(s.list_audit_events(gone, &filter).await.unwrap().is_empty());

    // A batch longer than one batch row, retried after part of it was written: what was
    // written is skipped, the rest goes in, nothing twice.
    let rows = 2 * latchkey_store::AUDIT_EVENTS_PER_BATCH + 500;
    let big: Vec<_> = (0..rows)
        .map(|n| {
            let mut e = audit_event();
            e.action = "token.release.bulk".to_owned();
            e.target = Some(format!("grant-{n}"));
            (t, e)
        })
        .collect();
    s.record_audits(&pack(&big[..rows - 700])).await.unwrap();
    s.record_audits(&pack(&big)).await.unwrap();
    let bulk = latchkey_core::audit::AuditFilter {
        action: Some("token.release.bulk".to_owned()),
        ..Default::default()
    };
    let mut ids: Vec<_> = s
        .list_audit_events(t, &bulk)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    ids.sort();
    let mut want: Vec<_> = big.iter().map(|(_, e)| e.id.clone()).collect();
    want.sort();
    assert_eq!(ids, want);

    // Two tenants interleaved in one batch, and values that must come back byte for byte:
    // quotes, backslashes, control characters, non-ASCII, the text `null`, absent targets
    // and request ids, and the extremes of the time column.
    let other = new_tenant(&w, "Other").await.tenant.id;
    let awkward = [
        "tool:\"quoted\"",
        "back\\slash",
        "line\nbreak\ttab\u{1}",
        "ünïcødé ✓ 🦀",
        "null",
        "",
    ];
    let mut batch = Vec::new();
    for (n, text) in awkward.iter().enumerate() {
        let mut e = audit_event();
        e.action = "token.release.escapes".to_owned();
        e.actor = (*text).to_owned();
        e.target = (n % 2 == 0).then(|| format!("{text}-{n}"));
        e.request_id = (n % 3 == 0).then(|| format!("req-{text}"));
        e.at = UnixMillis(if n == 0 {
            i64::MAX - 1
        } else {
            1_700_000_000_000 + n as i64
        });
        batch.push((if n % 2 == 0 { t } else { other }, e));
    }
    s.record_audits(&pack(&batch)).await.unwrap();
    for tenant in [t, other] {
        let mut want: Vec<_> = batch
            .iter()
            .filter(|(owner, _)| *owner == tenant)
            .map(|(_, e)| e.clone())
            .collect();
        want.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        let filter = latchkey_core::audit::AuditFilter {
            action: Some("token.release.escapes".to_owned()),
            ..Default::default()
        };
        let got = s.list_audit_events(tenant, &filter).await.unwrap();
        assert_eq!(got, want, "tenant {tenant}");
    }
}

/// Listing by time and the daily usage over batch rows (migration 0014): windows that start or
/// end inside a batch, between batches, on a batch's first and last event, and across batches
/// whose times overlap, each select exactly the events whose own time is inside; the usage
/// counts each event once, on its own day.
async fn audit_windows(db: &TestDb) {
    use latchkey_core::audit::AuditFilter;
    const DAY: i64 = 86_400_000;
    let w = world(db);
    let t = new_tenant(&w, "Acme").await.tenant.id;
    let s = w.store.as_ref();
    let base = 20_000 * DAY;
    let event = |at: i64, action: &str| {
        let mut e = audit_event();
        e.action = action.to_owned();
        e.at = UnixMillis(at);
        (t, e)
    };
    // Flushes: the second's events overlap the first's in time (two replicas), the third is a
    // day later, its events out of order.
    let flushes = [
        (0..10)
            .map(|n| event(base + 100 + n * 10, "token.release"))
            .collect::<Vec<_>>(),
        (0..10)
            .map(|n| event(base + 150 + n * 20, "authorization.start"))
            .collect(),
        [5, 1, 9, 3]
            .iter()
            .map(|n| event(base + DAY + n * 1000, "token.release"))
            .collect(),
        // One event alone, and a batch across midnight.
        vec![event(base + 500, "authorization.completed")],
        vec![
            event(base + DAY - 5, "token.release"),
            event(base + DAY + 500, "token.release"),
        ],
    ];
    for f in &flushes {
        s.record_audits(&pack(f)).await.unwrap();
    }
    let everything: Vec<_> = flushes.iter().flatten().map(|(_, e)| e.clone()).collect();
    let window = |since: Option<i64>, until: Option<i64>, action: Option<&str>| AuditFilter {
        action: action.map(str::to_owned),
        since: since.map(UnixMillis),
        until: until.map(UnixMillis),
    };
    let cases = [
        window(None, None, None),
        window(Some(base + 100), Some(base + 101), None), // the first batch's first event
        window(Some(base + 190), Some(base + 191), None), // its last event
        window(Some(base + 191), Some(base + 200), None), // inside the second only
        window(Some(base + 120), Some(base + 170), None), // across both
        window(Some(base + 331), Some(base + 500), None), // between batches: nothing
        window(Some(base + DAY - 5), Some(base + DAY + 1), None), // across midnight
        window(Some(base + DAY + 2000), None, None),      // inside the third
        window(None, Some(base + DAY + 1000), Some("token.release")),
        window(Some(base + 150), None, Some("authorization.start")),
    ];
    for f in &cases {
        let mut want: Vec<_> = everything
            .iter()
            .filter(|e| {
                f.since.is_none_or(|s| e.at >= s)
                    && f.until.is_none_or(|u| e.at < u)
                    && f.action.as_ref().is_none_or(|a| &e.action == a)
            })
            .cloned()
            .collect();
        want.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        let got: Vec<_> = s
            .list_audit_events(t, f)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action != "tenant.create")
            .collect();
        assert_eq!(got, want, "{f:?}");
    }
    // Whole batches are counted from their counts, the others event by event: each way must
    // give the same figures (since before everything; inside the first batches; on the first
    // event of the batch across midnight; inside the third).
    let day = base / DAY;
    let usage = |since: i64| s.daily_usage(t, UnixMillis(since));
    let row = |d: i64, action: &str, n: i64| (d, action.to_owned(), n);
    assert_eq!(
        usage(base).await.unwrap(),
        [
            row(day, "authorization.completed", 1),
            row(day, "authorization.start", 10),
            row(day, "token.release", 11),
            row(day + 1, "token.release", 5),
        ]
    );
    assert_eq!(
        usage(base + 160).await.unwrap(),
        [
            row(day, "authorization.completed", 1),
            row(day, "authorization.start", 9),
            row(day, "token.release", 5),
            row(day + 1, "token.release", 5),
        ]
    );
    assert_eq!(
        usage(base + DAY - 5).await.unwrap(),
        [
            row(day, "token.release", 1),
            row(day + 1, "token.release", 5)
        ]
    );
    assert_eq!(
        usage(base + DAY + 3000).await.unwrap(),
        [row(day + 1, "token.release", 3)]
    );
}

/// Verifier self-tests: found by their flow_id's hash within the tenant only, decided once,
/// purged after their expiry.
async fn verifier_tests(db: &TestDb) {
    use latchkey_core::authorization::VerifierTest;
    let w = world(db);
    let t = new_tenant(&w, "Acme").await.tenant.id;
    let other = new_tenant(&w, "Other").await.tenant.id;
    let s = w.store.as_ref();
    let now = UnixMillis::now();
    let test = VerifierTest {
        id: AuthorizationId::generate(),
        user_id: "alice".to_owned(),
        verifier_url: "https://app.example.com/verify".to_owned(),
        flow_id_hash: capability_hash("flow-1"),
        status: AuthorizationStatus::Pending,
        decision: None,
        decided_user_hash: None,
        created_at: now,
        expires_at: UnixMillis(now.0 + 60_000),
        updated_at: now,
    };
    s.insert_verifier_test(t, &test, &audit_event())
        .await
        .unwrap();
    let hash = capability_hash("flow-1");
    assert_eq!(
        s.verifier_test_by_flow_id(t, &hash).await.unwrap(),
        Some(test.clone())
    );
    assert_eq!(
        s.verifier_test_by_flow_id(other, &hash).await.unwrap(),
        None
    );
    assert_eq!(s.get_verifier_test(other, test.id).await.unwrap(), None);
    let decided = VerifierTest {
        status: AuthorizationStatus::Completed,
        decision: Some("completed".to_owned()),
        decided_user_hash: Some(capability_hash("alice")),
        ..test.clone()
    };
    assert!(
        s.decide_verifier_test(t, &decided, &audit_event())
            .await
            .unwrap()
    );
    assert!(
        !s.decide_verifier_test(t, &decided, &audit_event())
            .await
            .unwrap(),
        "decided once"
    );
    assert_eq!(
        s.get_verifier_test(t, test.id).await.unwrap(),
        Some(decided)
    );
    // Purged once past its expiry (and the retention the caller adds to `before`).
    s.purge_authorizations(now, 100).await.unwrap();
    assert!(s.get_verifier_test(t, test.id).await.unwrap().is_some());
    s.purge_authorizations(UnixMillis(now.0 + 120_000), 100)
        .await
        .unwrap();
    assert_eq!(s.get_verifier_test(t, test.id).await.unwrap(), None);
}

on_both_stores! {
    flow_moves => flows;
    verifier_test_records => verifier_tests;
    grant_change_notices => grant_notices;
    audit_batch_writes => audit_batches;
    audit_windows_across_batches => audit_windows;
}
