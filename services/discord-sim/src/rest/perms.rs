//! Guild-level permission computation (§10.5.6, [D-permissions]): the owner gets every bit;
//! everyone else gets `@everyone` OR their roles, and `ADMINISTRATOR` expands to every bit.
//! Bots additionally carry their optional permission override.

use crate::model::{Guild, GuildBot};

/// Every permission bit the simulator knows (bits 0–53; deliberately beyond 2^53, T12).
pub(crate) const ALL: u64 = (1 << 54) - 1;
pub(crate) const CREATE_INSTANT_INVITE: u64 = 1;
pub(crate) const ADMINISTRATOR: u64 = 1 << 3;
pub(crate) const MUTE_MEMBERS: u64 = 1 << 22;
pub(crate) const DEAFEN_MEMBERS: u64 = 1 << 23;
pub(crate) const MANAGE_NICKNAMES: u64 = 1 << 27;
pub(crate) const MANAGE_ROLES: u64 = 1 << 28;

fn roles_bits(guild: &Guild, role_ids: &[String]) -> u64 {
    guild
        .roles
        .iter()
        .filter(|r| r.id == guild.id || role_ids.contains(&r.id))
        .fold(0, |acc, r| acc | r.permissions.0)
}

fn expand(bits: u64) -> u64 {
    if bits & ADMINISTRATOR != 0 { ALL } else { bits }
}

/// A user's guild-level permissions (no channel overwrites).
pub(crate) fn member_permissions(guild: &Guild, user_id: &str) -> u64 {
    if guild.owner_id == user_id {
        return ALL;
    }
    let roles = guild
        .members
        .iter()
        .find(|m| m.user_id == user_id)
        .map(|m| m.roles.clone())
        .unwrap_or_default();
    expand(roles_bits(guild, &roles))
}

/// A bot's guild-level permissions.
pub(crate) fn bot_permissions(guild: &Guild, bot: &GuildBot) -> u64 {
    expand(roles_bits(guild, &bot.role_ids) | bot.permissions.map_or(0, |p| p.0))
}

/// Position of the bot's highest role; a bot without roles holds its managed role on top.
pub(crate) fn bot_top_position(guild: &Guild, bot: &GuildBot) -> u32 {
    if bot.role_ids.is_empty() {
        return u32::MAX;
    }
    guild
        .roles
        .iter()
        .filter(|r| bot.role_ids.contains(&r.id))
        .map(|r| r.position)
        .max()
        .unwrap_or(0)
}
