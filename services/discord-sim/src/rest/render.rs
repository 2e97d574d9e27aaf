//! JSON renderings of users, members and applications in Discord's shapes (§6.1–§6.4), shared
//! by the REST handlers.

use serde_json::{Value, json};

use crate::model::{App, Bot, Member, User};

/// The public user fields (§6.1, §6.4).
pub(crate) fn public_user(u: &User) -> Value {
    json!({
        "id": u.id, "username": u.username, "discriminator": u.discriminator,
        "global_name": u.global_name, "avatar": u.avatar, "public_flags": u.public_flags,
        "flags": u.flags, "primary_guild": null,
    })
}

/// The full user object of `/users/@me` (§6.2); email fields only with the `email` scope.
pub(crate) fn full_user(u: &User, email: bool, premium: bool) -> Value {
    let mut v = json!({
        "id": u.id, "username": u.username, "discriminator": u.discriminator,
        "global_name": u.global_name, "avatar": u.avatar, "public_flags": u.public_flags,
        "flags": u.flags, "banner": u.banner, "accent_color": u.accent_color,
        "avatar_decoration_data": null, "collectibles": null, "primary_guild": null,
        "mfa_enabled": u.mfa_enabled, "locale": u.locale,
        "premium_type": if premium { u.premium_type } else { 0 },
    });
    if let (true, Some(obj)) = (email, v.as_object_mut()) {
        obj.insert("email".to_owned(), json!(u.email));
        obj.insert("verified".to_owned(), json!(u.verified));
    }
    v
}

/// A bot's own user object.
pub(crate) fn bot_user(b: &Bot) -> Value {
    json!({
        "id": b.user_id, "username": b.username, "discriminator": "0", "global_name": null,
        "avatar": null, "bot": true, "public_flags": 0, "flags": 0, "banner": null,
        "accent_color": null, "mfa_enabled": false, "locale": "en-US", "premium_type": 0,
        "verified": true, "email": null,
    })
}

/// A guild member object (§6.4).
pub(crate) fn member(m: &Member, user: Value) -> Value {
    json!({
        "user": user, "nick": m.nick, "avatar": m.avatar, "banner": m.banner, "roles": m.roles,
        "joined_at": m.joined_at, "premium_since": m.premium_since, "deaf": m.deaf, "mute": m.mute,
        "flags": m.flags, "pending": m.pending,
        "communication_disabled_until": m.communication_disabled_until,
    })
}

/// The partial application of `/oauth2/@me`.
pub(crate) fn application(a: &App) -> Value {
    let verify_key = a.verify_key.clone().unwrap_or_else(|| {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(a.id.as_bytes()))
    });
    json!({
        "id": a.id, "name": a.name, "icon": a.icon, "description": a.description, "hook": a.hook,
        "bot_public": a.bot_public, "bot_require_code_grant": a.bot_require_code_grant,
        "verify_key": verify_key, "flags": a.flags,
    })
}
