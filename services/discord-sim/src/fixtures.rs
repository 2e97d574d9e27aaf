//! The fixture document (§10.3): apps, users, guilds and pre-existing authorizations, its JSON
//! parsing, merging (`POST /__sim/fixtures` merges by id) and validation with clear messages.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::error::SimError;
use crate::ids::is_snowflake;
use crate::model::{App, AuthorizationFixture, Guild, Role, User};

/// Most redirect URIs an application may register (community, [U-application]).
const MAX_REDIRECT_URIS: usize = 10;

/// The simulator's starting world, in the JSON shape of §10.3.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Fixtures {
    pub(crate) apps: Vec<App>,
    pub(crate) users: Vec<User>,
    pub(crate) guilds: Vec<Guild>,
    pub(crate) authorizations: Vec<AuthorizationFixture>,
}

impl Fixtures {
    /// Parses and validates a complete fixture document.
    pub fn from_json(text: &str) -> Result<Fixtures, SimError> {
        let fixtures = Self::parse_partial(text)?;
        fixtures.validate()?;
        Ok(fixtures)
    }

    /// Parses a document that may reference objects loaded earlier; validate after merging.
    pub(crate) fn parse_partial(text: &str) -> Result<Fixtures, SimError> {
        let mut fixtures: Fixtures =
            serde_json::from_str(text).map_err(|e| SimError::Fixture(e.to_string()))?;
        fixtures.normalize();
        Ok(fixtures)
    }

    /// Adds the implicit `@everyone` role where a guild lacks it.
    pub(crate) fn normalize(&mut self) {
        for guild in &mut self.guilds {
            if !guild.roles.iter().any(|r| r.id == guild.id) {
                guild.roles.insert(
                    0,
                    Role {
                        id: guild.id.clone(),
                        name: "@everyone".to_owned(),
                        permissions: crate::model::Perm(0),
                        position: 0,
                        managed: false,
                        hoist: false,
                        mentionable: false,
                    },
                );
            }
        }
    }

    /// Merges `other` into `self`, objects with the same id being replaced.
    pub(crate) fn merge(&mut self, other: Fixtures) {
        for app in other.apps {
            self.apps.retain(|a| a.id != app.id);
            self.apps.push(app);
        }
        for user in other.users {
            self.users.retain(|u| u.id != user.id);
            self.users.push(user);
        }
        for guild in other.guilds {
            self.guilds.retain(|g| g.id != guild.id);
            self.guilds.push(guild);
        }
        self.authorizations.extend(other.authorizations);
    }

    /// Checks the rules of §10.3; the first problem is reported.
    pub(crate) fn validate(&self) -> Result<(), SimError> {
        let fail = |msg: String| Err(SimError::Fixture(msg));
        let mut ids = HashSet::new();
        for app in &self.apps {
            check_id("app", &app.id, &mut ids)?;
            if app.name.to_lowercase().contains("discord") {
                return fail(format!(
                    "app {}: Application name cannot contain \"discord\"",
                    app.id
                ));
            }
            if app.redirect_uris.len() > MAX_REDIRECT_URIS {
                return fail(format!(
                    "app {}: more than {MAX_REDIRECT_URIS} redirect URIs ({})",
                    app.id,
                    app.redirect_uris.len()
                ));
            }
            if let Some(bot) = &app.bot {
                check_id("bot user", &bot.user_id, &mut ids)?;
            }
        }
        for user in &self.users {
            check_id("user", &user.id, &mut ids)?;
        }
        let user_known = |id: &str| self.users.iter().any(|u| u.id == id);
        let app_known = |id: &str| self.apps.iter().any(|a| a.id == id);
        for guild in &self.guilds {
            check_id("guild", &guild.id, &mut ids)?;
            let mut role_ids = HashSet::new();
            for role in &guild.roles {
                if role.id != guild.id {
                    check_id("role", &role.id, &mut ids)?;
                }
                role_ids.insert(role.id.as_str());
            }
            if !user_known(&guild.owner_id) {
                return fail(format!(
                    "guild {}: unknown owner user {}",
                    guild.id, guild.owner_id
                ));
            }
            let mut members = HashSet::new();
            for member in &guild.members {
                if !user_known(&member.user_id) {
                    return fail(format!(
                        "guild {}: member references unknown user {}",
                        guild.id, member.user_id
                    ));
                }
                if !members.insert(member.user_id.as_str()) {
                    return fail(format!(
                        "guild {}: duplicate member {}",
                        guild.id, member.user_id
                    ));
                }
                if let Some(r) = member.roles.iter().find(|r| !role_ids.contains(r.as_str())) {
                    return fail(format!(
                        "guild {}: member {} references unknown role {r}",
                        guild.id, member.user_id
                    ));
                }
            }
            for bot in &guild.bots {
                let has_bot = self
                    .apps
                    .iter()
                    .any(|a| a.id == bot.app_id && a.bot.is_some());
                if !has_bot {
                    return fail(format!(
                        "guild {}: bot entry references unknown app or app without a bot {}",
                        guild.id, bot.app_id
                    ));
                }
                if let Some(r) = bot.role_ids.iter().find(|r| !role_ids.contains(r.as_str())) {
                    return fail(format!(
                        "guild {}: bot {} references unknown role {r}",
                        guild.id, bot.app_id
                    ));
                }
            }
            if let Some(u) = guild.bans.iter().find(|u| !user_known(u)) {
                return fail(format!(
                    "guild {}: ban references unknown user {u}",
                    guild.id
                ));
            }
        }
        for auth in &self.authorizations {
            if !user_known(&auth.user_id) || !app_known(&auth.app_id) {
                return fail(format!(
                    "authorization ({}, {}) references an unknown user or app",
                    auth.user_id, auth.app_id
                ));
            }
        }
        Ok(())
    }
}

fn check_id<'a>(what: &str, id: &'a str, seen: &mut HashSet<&'a str>) -> Result<(), SimError> {
    if !is_snowflake(id) {
        return Err(SimError::Fixture(format!(
            "{what} id {id:?} is not a snowflake string"
        )));
    }
    if !seen.insert(id) {
        return Err(SimError::Fixture(format!("duplicate id {id} ({what})")));
    }
    Ok(())
}
