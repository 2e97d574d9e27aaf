//! The whole simulated world behind one mutex (§10.3): fixtures-backed objects, OAuth2
//! artefacts, admin queues, the limiter, the ledger and the clock. Every request takes the lock
//! once for its state changes, so concurrent exchanges and refreshes have exactly one winner.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::Mode;
use crate::clock::{Clock, format_ts};
use crate::consent::Pending;
use crate::faults::FaultBook;
use crate::fixtures::Fixtures;
use crate::ids::{SecretKind, mint};
use crate::log::Ledger;
use crate::model::{AccessToken, App, Authorization, Code, Guild, RefreshToken, User, Via};
use crate::ratelimit::Limiter;
use crate::settings::{Decision, ScopeMerge, Settings};

/// One consent-plan entry (§10.5.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlanEntry {
    pub user_id: String,
    pub decision: Decision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<String>,
}

/// A deauthorization that fires after a number of Discord-facing requests.
#[derive(Debug, Clone)]
pub(crate) struct ScheduledDeauth {
    pub user_id: String,
    pub app_id: String,
    pub remaining: u64,
}

/// Everything the simulator knows.
pub(crate) struct World {
    pub mode: Mode,
    pub settings: Settings,
    pub startup_settings: Settings,
    pub startup_fixtures: Fixtures,
    pub objects: Fixtures,
    pub auths: BTreeMap<(String, String), Authorization>,
    pub codes: HashMap<String, Code>,
    pub access: HashMap<String, AccessToken>,
    pub refresh: HashMap<String, RefreshToken>,
    pub plan: VecDeque<PlanEntry>,
    pub pending: HashMap<String, Pending>,
    pub faults: FaultBook,
    pub limits: Limiter,
    pub ledger: Ledger,
    pub clock: Clock,
    pub rng: StdRng,
    pub seen_challenges: HashSet<String>,
    pub dead_tokens: HashSet<String>,
    pub scheduled: Vec<ScheduledDeauth>,
}

impl World {
    pub(crate) fn new(mode: Mode, settings: Settings, fixtures: Fixtures) -> World {
        let mut world = World {
            mode,
            rng: StdRng::seed_from_u64(settings.seed),
            startup_settings: settings.clone(),
            settings,
            startup_fixtures: fixtures.clone(),
            objects: Fixtures::default(),
            auths: BTreeMap::new(),
            codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            plan: VecDeque::new(),
            pending: HashMap::new(),
            faults: FaultBook::default(),
            limits: Limiter::default(),
            ledger: Ledger::default(),
            clock: Clock::default(),
            seen_challenges: HashSet::new(),
            dead_tokens: HashSet::new(),
            scheduled: Vec::new(),
        };
        world.install(fixtures);
        world
    }

    /// Replaces the world's objects with `fixtures` (already validated).
    pub(crate) fn install(&mut self, mut fixtures: Fixtures) {
        let now = format_ts(self.now());
        for guild in &mut fixtures.guilds {
            for member in &mut guild.members {
                member.joined_at.get_or_insert_with(|| now.clone());
            }
        }
        for fx in &fixtures.authorizations {
            let auth = Authorization {
                user_id: fx.user_id.clone(),
                app_id: fx.app_id.clone(),
                scopes: fx.scopes.clone(),
                created_at_ms: self.now(),
            };
            self.auths
                .insert((fx.user_id.clone(), fx.app_id.clone()), auth);
        }
        self.objects = fixtures;
    }

    /// Clears everything; optionally reloads the startup fixtures.
    pub(crate) fn reset(&mut self, keep_fixtures: bool) {
        let fixtures = if keep_fixtures {
            self.startup_fixtures.clone()
        } else {
            Fixtures::default()
        };
        let fresh = World::new(self.mode, self.startup_settings.clone(), fixtures);
        let startup = std::mem::take(&mut self.startup_fixtures);
        *self = fresh;
        self.startup_fixtures = startup;
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    pub(crate) fn app(&self, id: &str) -> Option<&App> {
        self.objects.apps.iter().find(|a| a.id == id)
    }

    pub(crate) fn user(&self, id: &str) -> Option<&User> {
        self.objects.users.iter().find(|u| u.id == id)
    }

    pub(crate) fn user_mut(&mut self, id: &str) -> Option<&mut User> {
        self.objects.users.iter_mut().find(|u| u.id == id)
    }

    pub(crate) fn guild(&self, id: &str) -> Option<&Guild> {
        self.objects.guilds.iter().find(|g| g.id == id)
    }

    pub(crate) fn guild_mut(&mut self, id: &str) -> Option<&mut Guild> {
        self.objects.guilds.iter_mut().find(|g| g.id == id)
    }

    /// The app whose bot token this is.
    pub(crate) fn app_by_bot_token(&self, token: &str) -> Option<&App> {
        self.objects
            .apps
            .iter()
            .find(|a| a.bot.as_ref().is_some_and(|b| b.token == token))
    }

    /// A fresh secret, unique across codes and tokens.
    pub(crate) fn mint(&mut self, kind: SecretKind) -> String {
        loop {
            let value = mint(&mut self.rng, self.settings.token.format, kind);
            let taken = self.codes.contains_key(&value)
                || self.access.contains_key(&value)
                || self.refresh.contains_key(&value)
                || self.pending.contains_key(&value);
            if !taken {
                return value;
            }
        }
    }

    /// Issues an access token (and a refresh token unless `via` forbids one).
    pub(crate) fn issue(
        &mut self,
        app_id: &str,
        user_id: &str,
        scopes: Vec<String>,
        via: Via,
    ) -> (String, Option<String>) {
        let now = self.now();
        let access = self.mint(SecretKind::Access);
        let with_refresh = matches!(via, Via::Code | Via::Refresh);
        let refresh = with_refresh.then(|| self.mint(SecretKind::Refresh));
        let dead_on_arrival =
            via == Via::Refresh && self.settings.refresh.dead_on_arrival.applies_to(user_id);
        self.access.insert(
            access.clone(),
            AccessToken {
                app_id: app_id.to_owned(),
                user_id: user_id.to_owned(),
                scopes: scopes.clone(),
                issued_at_ms: now,
                expires_at_ms: now + self.settings.token.access_ttl_s * 1000,
                revoked_at_ms: None,
                via,
                refresh_token: refresh.clone(),
                dead_on_arrival,
            },
        );
        if let Some(rt) = &refresh {
            let expires_at_ms = self.settings.token.refresh_ttl_s.map(|s| now + s * 1000);
            self.refresh.insert(
                rt.clone(),
                RefreshToken {
                    app_id: app_id.to_owned(),
                    user_id: user_id.to_owned(),
                    scopes,
                    issued_at_ms: now,
                    expires_at_ms,
                    consumed_at_ms: None,
                    revoked_at_ms: None,
                    access_token: access.clone(),
                },
            );
        }
        (access, refresh)
    }

    /// Revokes every access and refresh token of (user, app).
    pub(crate) fn revoke_tokens(&mut self, user_id: &str, app_id: &str) {
        let now = self.now();
        for t in self
            .access
            .values_mut()
            .filter(|t| t.user_id == user_id && t.app_id == app_id)
        {
            t.revoked_at_ms.get_or_insert(now);
        }
        for t in self
            .refresh
            .values_mut()
            .filter(|t| t.user_id == user_id && t.app_id == app_id)
        {
            t.revoked_at_ms.get_or_insert(now);
        }
    }

    /// Revocation, deauthorization: kill all tokens and delete the Authorization.
    pub(crate) fn deauthorize(&mut self, user_id: &str, app_id: &str) -> bool {
        self.revoke_tokens(user_id, app_id);
        self.auths
            .remove(&(user_id.to_owned(), app_id.to_owned()))
            .is_some()
    }

    /// Account ban: every authorization of the user deleted, tokens dead.
    pub(crate) fn ban_account(&mut self, user_id: &str) -> bool {
        let Some(user) = self.user_mut(user_id) else {
            return false;
        };
        user.account_banned = true;
        let apps: Vec<String> = self.objects.apps.iter().map(|a| a.id.clone()).collect();
        for app in apps {
            self.deauthorize(user_id, &app);
        }
        true
    }

    /// Records a consent, merging scopes per `reauth.scope_merge`.
    pub(crate) fn record_consent(&mut self, user_id: &str, app_id: &str, scopes: &[String]) {
        let now = self.now();
        let merge = self.settings.reauth.scope_merge;
        let auth = self
            .auths
            .entry((user_id.to_owned(), app_id.to_owned()))
            .or_insert_with(|| Authorization {
                user_id: user_id.to_owned(),
                app_id: app_id.to_owned(),
                scopes: Vec::new(),
                created_at_ms: now,
            });
        match merge {
            ScopeMerge::Union => {
                for s in scopes {
                    if !auth.scopes.contains(s) {
                        auth.scopes.push(s.clone());
                    }
                }
            }
            ScopeMerge::Replace => auth.scopes = scopes.to_vec(),
        }
    }

    /// A Bearer token that is currently usable, with the reason when it is not.
    pub(crate) fn live_access(&self, token: &str) -> Result<&AccessToken, &'static str> {
        let t = self.access.get(token).ok_or("token_unknown")?;
        if t.revoked_at_ms.is_some() {
            return Err("token_revoked");
        }
        if t.dead_on_arrival {
            return Err("dead_on_arrival");
        }
        if self.now() >= t.expires_at_ms {
            return Err("token_expired");
        }
        if self.user(&t.user_id).is_some_and(|u| u.account_banned) {
            return Err("account_banned");
        }
        Ok(t)
    }

    /// Counts a Discord-facing request against scheduled deauthorizations.
    pub(crate) fn tick_scheduled(&mut self) {
        let mut due = Vec::new();
        for s in &mut self.scheduled {
            s.remaining = s.remaining.saturating_sub(1);
            if s.remaining == 0 {
                due.push((s.user_id.clone(), s.app_id.clone()));
            }
        }
        self.scheduled.retain(|s| s.remaining > 0);
        for (user, app) in due {
            self.deauthorize(&user, &app);
        }
    }
}
