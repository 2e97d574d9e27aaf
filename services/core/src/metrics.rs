//! The domain's metrics, as OpenTelemetry instruments: authorizations by outcome, token
//! releases, refreshes by outcome. The server builds them from its meter (exported over OTLP and
//! rendered on `/metrics`); everything else gets [`Meters::noop`]. Attribute values come from
//! small fixed vocabularies — never an id, a user, a scope or anything secret.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Meter, MeterProvider};

/// How an authorization ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationOutcome {
    /// Completed after the tenant's verifier confirmed the user.
    CompletedVerified,
    /// Completed in skip mode (security.md V14: counted apart, loudly).
    CompletedSkipped,
    /// Failed (denied, mismatch, exchange error, interrupted).
    Failed,
    /// Its lifetime ran out.
    Expired,
}

/// How a refresh at Discord went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// New tokens stored.
    Refreshed,
    /// Discord refused the refresh token: the user must authorize again.
    ReauthRequired,
    /// Discord could not be reached or failed; the grant cools down.
    Failed,
    /// Refreshed, but the grant changed meanwhile, so nothing was stored or released.
    Superseded,
}

/// Where a token was released to a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseChannel {
    /// `POST /v1/tokens` (or gRPC `GetToken`).
    Token,
    /// The Discord proxy, which used the token on the tool's behalf.
    Proxy,
}

impl ReleaseChannel {
    const ALL: [Self; 2] = [Self::Token, Self::Proxy];

    /// The audit action, and the `channel` attribute of `latchkey.token.releases`.
    pub fn action(self) -> &'static str {
        match self {
            Self::Token => "token.release",
            Self::Proxy => "proxy.discord",
        }
    }
}

/// The domain's instruments (cheap to clone).
#[derive(Clone, Debug)]
pub struct Meters {
    authorizations: Counter<u64>,
    /// Releases by [`ReleaseChannel`], counted here and read by `latchkey.token.releases`'s
    /// callback at each export: a counter's `add` on the warm token fetch's path (a lock and a
    /// look-up of its attributes) was 0.6 % of its samples, an atomic add is nothing.
    releases: Arc<[AtomicU64; 2]>,
    refreshes: Counter<u64>,
}

impl Meters {
    /// Instruments registered with `meter`.
    pub fn new(meter: &Meter) -> Self {
        let releases: Arc<[AtomicU64; 2]> = Arc::default();
        let counted = Arc::clone(&releases);
        meter
            .u64_observable_counter("latchkey.token.releases")
            .with_description("Access tokens released to tools, by channel (token or proxy)")
            .with_callback(move |o| {
                for (channel, n) in ReleaseChannel::ALL.iter().zip(counted.iter()) {
                    let n = n.load(Ordering::Relaxed);
                    // As a counter's `add` would: a channel appears once it released something.
                    if n > 0 {
                        o.observe(n, &[KeyValue::new("channel", channel.action())]);
                    }
                }
            })
            .build();
        Self {
            authorizations: meter
                .u64_counter("latchkey.authorizations")
                .with_description("Authorizations ended, by outcome and verification mode")
                .build(),
            releases,
            refreshes: meter
                .u64_counter("latchkey.refreshes")
                .with_description("Refreshes at Discord, by outcome")
                .build(),
        }
    }

    /// Instruments that record nothing.
    pub fn noop() -> Self {
        Self::new(&opentelemetry::metrics::NoopMeterProvider::new().meter("latchkey"))
    }

    /// Counts an ended authorization.
    pub fn authorization(&self, outcome: AuthorizationOutcome) {
        let (outcome, verification) = match outcome {
            AuthorizationOutcome::CompletedVerified => ("completed", "verified"),
            AuthorizationOutcome::CompletedSkipped => ("completed", "skipped"),
            AuthorizationOutcome::Failed => ("failed", "none"),
            AuthorizationOutcome::Expired => ("expired", "none"),
        };
        self.authorizations.add(
            1,
            &[
                KeyValue::new("outcome", outcome),
                KeyValue::new("verification", verification),
            ],
        );
    }

    /// Counts a released token.
    pub fn release(&self, channel: ReleaseChannel) {
        let i = match channel {
            ReleaseChannel::Token => 0,
            ReleaseChannel::Proxy => 1,
        };
        if let Some(n) = self.releases.get(i) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a refresh.
    pub fn refresh(&self, outcome: RefreshOutcome) {
        let outcome = match outcome {
            RefreshOutcome::Refreshed => "refreshed",
            RefreshOutcome::ReauthRequired => "reauth_required",
            RefreshOutcome::Failed => "failed",
            RefreshOutcome::Superseded => "superseded",
        };
        self.refreshes.add(1, &[KeyValue::new("outcome", outcome)]);
    }
}

impl Default for Meters {
    fn default() -> Self {
        Self::noop()
    }
}
