//! The Discord scope catalogue as Latchkey applies it (specs/discord.md §2, column "Latchkey";
//! security.md P21). Every scope a provider is configured with is classified here.

/// How Latchkey treats a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeClass {
    /// May be requested.
    Allowed,
    /// `guilds.join`: needs the app's bot token (not stored by Latchkey yet).
    NeedsBot,
    /// A Discord scope Latchkey has no feature for (`bot`, `webhook.incoming`, …).
    NotUsed,
    /// Approval-only or local-client scopes: refused unless Discord approved the app for them.
    Blocked,
    /// Not a Discord scope at all.
    Unknown,
}

const ALLOWED: &[&str] = &[
    "identify",
    "email",
    "guilds",
    "guilds.members.read",
    "connections",
];
const NOT_USED: &[&str] = &[
    "bot",
    "applications.commands",
    "applications.commands.update",
    "applications.commands.permissions.update",
    "applications.builds.read",
    "applications.entitlements",
    "applications.store.update",
    "gdm.join",
    "webhook.incoming",
    "role_connections.write",
    "openid",
];
const BLOCKED: &[&str] = &[
    "applications.builds.upload",
    "messages.read",
    "rpc",
    "rpc.activities.write",
    "rpc.notifications.read",
    "rpc.voice.read",
    "rpc.voice.write",
    "rpc.video.read",
    "rpc.video.write",
    "rpc.screenshare.read",
    "rpc.screenshare.write",
    "activities.read",
    "activities.write",
    "activities.invites.write",
    "dm_channels.read",
    "voice",
    "relationships.read",
    "identify.premium",
    "sdk.social_layer_presence",
    "sdk.social_layer",
];

/// Classifies one scope string (exact, case-sensitive, as Discord compares them).
pub fn classify(scope: &str) -> ScopeClass {
    if ALLOWED.contains(&scope) {
        ScopeClass::Allowed
    } else if scope == "guilds.join" {
        ScopeClass::NeedsBot
    } else if NOT_USED.contains(&scope) {
        ScopeClass::NotUsed
    } else if BLOCKED.contains(&scope) {
        ScopeClass::Blocked
    } else {
        ScopeClass::Unknown
    }
}

/// What granting `scope` lets the app do, in plain language (the consent receipt, V9).
pub fn describe(scope: &str) -> &'static str {
    match scope {
        "identify" => "See your Discord username, avatar and banner (not your e-mail address).",
        "email" => "See your e-mail address.",
        "guilds" => "See the names and icons of the servers you are in.",
        "guilds.members.read" => {
            "Read your member info in your servers: nickname, roles and join date."
        }
        "connections" => "See the third-party accounts you linked to Discord.",
        _ => "A Discord permission this app asked for.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(classify("identify"), ScopeClass::Allowed);
        assert_eq!(classify("guilds.join"), ScopeClass::NeedsBot);
        assert_eq!(classify("bot"), ScopeClass::NotUsed);
        assert_eq!(classify("role_connections.write"), ScopeClass::NotUsed);
        assert_eq!(classify("rpc"), ScopeClass::Blocked);
        assert_eq!(
            classify("guild.members.read"),
            ScopeClass::Unknown,
            "the documented typo"
        );
        assert_eq!(classify("IDENTIFY"), ScopeClass::Unknown);
        assert_eq!(classify(""), ScopeClass::Unknown);
    }
}
