//! The scope catalogue of §2 as the simulator needs it: which strings Discord knows, which are
//! approval-only, which are passthrough (always prompt), and plain-language descriptions for
//! the demo consent page.

/// Scopes any application may request.
const OPEN: &[&str] = &[
    "identify",
    "email",
    "guilds",
    "guilds.members.read",
    "connections",
    "guilds.join",
    "role_connections.write",
    "bot",
    "applications.commands",
    "applications.commands.update",
    "applications.commands.permissions.update",
    "applications.builds.read",
    "applications.entitlements",
    "applications.store.update",
    "gdm.join",
    "webhook.incoming",
    "openid",
];

/// Scopes only partners Discord approved may request (§2 "approval", non-public, local RPC).
const APPROVAL: &[&str] = &[
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
    "account.global_name.update",
    "application_identities.write",
    "dm_channels.messages.read",
    "dm_channels.messages.write",
    "gateway.connect",
    "guilds.channels.read",
    "lobbies.write",
    "payment_sources.country_code",
    "presences.read",
    "presences.write",
    "relationships.write",
];

/// Scopes whose consent screen is always shown (§3.7).
pub(crate) const PASSTHROUGH: &[&str] = &["bot", "webhook.incoming"];

pub(crate) fn is_known(scope: &str) -> bool {
    OPEN.contains(&scope) || APPROVAL.contains(&scope)
}

pub(crate) fn needs_approval(scope: &str) -> bool {
    APPROVAL.contains(&scope)
}

/// Space-separated scope parameter to a list (empty entries dropped).
pub(crate) fn split(scope: &str) -> Vec<String> {
    scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Plain-language description for the consent page.
pub(crate) fn describe(scope: &str) -> &'static str {
    match scope {
        "identify" => "Access your username, avatar, and banner",
        "email" => "Access your email address",
        "guilds" => "Know what servers you're in",
        "guilds.members.read" => {
            "Read your member info (nickname, avatar, roles) in servers you belong to"
        }
        "connections" => "Access your third-party connections",
        "guilds.join" => "Join servers for you",
        "bot" => "Add a bot to a server",
        "applications.commands" => "Create commands in a server",
        _ => "Additional access",
    }
}
