//! The domain's metrics, as OpenTelemetry instruments: authorizations by outcome, token
//! releases, refreshes by outcome. The server builds them from its meter (exported over OTLP and
//! rendered on `/metrics`); everything else gets [`Meters::noop`]. Attribute values come from
//! small fixed vocabularies — never an id, a user, a scope or anything secret.

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

/// The domain's instruments (cheap to clone).
#[derive(Clone, Debug)]
pub struct Meters {
    authorizations: Counter<u64>,
    releases: Counter<u64>,
    refreshes: Counter<u64>,
}

impl Meters {
    /// Instruments registered with `meter`.
    pub fn new(meter: &Meter) -> Self {
        Self {
            authorizations: meter
                .u64_counter("latchkey.authorizations")
                .with_description("Authorizations ended, by outcome and verification mode")
                .build(),
            releases: meter
                .u64_counter("latchkey.token.releases")
                .with_description("Access tokens released to tools, by channel (token or proxy)")
                .build(),
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

    /// Counts a released token; `channel` is the audit action (`token.release`, `proxy.discord`).
    pub fn release(&self, channel: &'static str) {
        self.releases.add(1, &[KeyValue::new("channel", channel)]);
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
