//! Tool grants (issue 6, item 2): a short-lived JWT an app mints for one user and one of its
//! registered tools (`POST /v1/tools/{name}/grants`, app key) and hands to the tool, which
//! presents it to `POST /v1/tokens` instead of a tool key and user id. Signed with Ed25519
//! (`EdDSA`); the signing keys are derived from the deployment's peppers (the newest signs, the
//! older ones verify, so keys rotate with the peppers and every replica derives the same ones);
//! `/.well-known/jwks.json` publishes them. Verification pins the algorithm, the key id, the
//! issuer, the audience and the expiry; anything else is `unauthorized`, like a bad key.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use latchkey_api::server::{ApiError, AppKey, JsonBody};
use latchkey_api::time::rfc3339;
use latchkey_api::tokens::{ToolGrantRequest, ToolGrantResponse};
use latchkey_api::{ErrorBody, ErrorName};
use latchkey_core::authorization::scope_set;
use latchkey_core::time::UnixMillis;
use latchkey_core::tool::ToolName;
use latchkey_core::user::UserId;
use latchkey_core::{CoreError, TenantId, ToolId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Tokens;

/// The audience of every tool grant.
pub const AUDIENCE: &str = "latchkey:tokens";

/// How long a tool grant is valid by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// A tool grant's claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolGrantClaims {
    /// Latchkey's public URL.
    pub iss: String,
    /// [`AUDIENCE`].
    pub aud: String,
    /// The tenant's user.
    pub sub: String,
    /// The tenant (`tnt_…`).
    pub tnt: String,
    /// The tool (`tool_…`).
    pub tool: String,
    /// The scopes the tool declared when the grant was minted.
    pub scp: Vec<String>,
    /// A unique id.
    pub jti: String,
    /// Issued at (seconds).
    pub iat: i64,
    /// Expires at (seconds).
    pub exp: i64,
}

struct SigningKey {
    kid: String,
    x: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// The signing keys: the first signs, all verify.
pub struct GrantKeys {
    keys: Vec<SigningKey>,
}

/// PKCS#8 v1 for an Ed25519 seed (RFC 8410): a fixed prefix and the 32 bytes.
fn pkcs8(seed: &[u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(seed);
    der
}

impl GrantKeys {
    /// Keys from 32-byte seeds, newest first.
    pub fn from_seeds(seeds: &[[u8; 32]]) -> Result<Self, String> {
        let mut keys = Vec::new();
        for seed in seeds {
            let public = ed25519_dalek::SigningKey::from_bytes(seed)
                .verifying_key()
                .to_bytes();
            let x = URL_SAFE_NO_PAD.encode(public);
            let kid = hex_prefix(&Sha256::digest(public));
            let decoding = DecodingKey::from_ed_components(&x).map_err(|e| e.to_string())?;
            keys.push(SigningKey {
                kid,
                x,
                encoding: EncodingKey::from_ed_der(&pkcs8(seed)),
                decoding,
            });
        }
        if keys.is_empty() {
            return Err("no signing key".to_owned());
        }
        Ok(Self { keys })
    }

    /// The JWK set (`/.well-known/jwks.json`).
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|k| {
                serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": k.x, "kid": k.kid, "alg": "EdDSA", "use": "sig"})
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    fn sign(&self, claims: &ToolGrantClaims) -> Result<String, ApiError> {
        let key = &self.keys[0];
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).map_err(|e| ApiError::internal(&e))
    }

    /// The claims of a valid grant issued by `issuer`, or `unauthorized`.
    pub fn verify(&self, token: &str, issuer: &str) -> Result<ToolGrantClaims, ApiError> {
        let refuse = |why: &str| {
            tracing::info!(reason = why, "tool grant refused");
            ApiError::unauthorized()
        };
        if token.len() > 4096 {
            return Err(refuse("oversized"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| refuse("malformed"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(refuse("algorithm"));
        }
        let kid = header.kid.ok_or_else(|| refuse("no kid"))?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| refuse("unknown kid"))?;
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&[AUDIENCE]);
        v.set_issuer(&[issuer]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = 5;
        jsonwebtoken::decode::<ToolGrantClaims>(token, &key.decoding, &v)
            .map(|d| d.claims)
            .map_err(|_| refuse("invalid"))
    }
}

fn hex_prefix(digest: &[u8]) -> String {
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The caller a valid grant stands for.
pub(crate) struct Granted {
    pub tenant: TenantId,
    pub tool: ToolId,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub jti: String,
}

impl Granted {
    pub(crate) fn from_claims(c: ToolGrantClaims) -> Result<Self, ApiError> {
        Ok(Self {
            tenant: TenantId::parse(&c.tnt).map_err(|_| ApiError::unauthorized())?,
            tool: ToolId::parse(&c.tool).map_err(|_| ApiError::unauthorized())?,
            user_id: c.sub,
            scopes: c.scp,
            jti: c.jti,
        })
    }
}

/// Mint a tool grant.
///
/// Requires an app key. A short-lived JWT (EdDSA; default 5 minutes) for one user and one of the
/// tenant's registered tools, which the app hands to the tool; the tool presents it to
/// `POST /v1/tokens` as `{"grant": "<jwt>"}` instead of its tool key and a user id. Verify it
/// with `/.well-known/jwks.json`.
#[utoipa::path(
    operation_id = "tool_grants_create",
    post, path = "/v1/tools/{name}/grants", tag = "tokens",
    security(("app_key" = [])),
    params(("name" = String, Path, description = "The tool (`Toolkit.Tool`)")),
    request_body = ToolGrantRequest,
    responses(
        (status = 201, description = "The grant", body = ToolGrantResponse),
        (status = 400, description = "Bad body or user id", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an app key", body = ErrorBody),
        (status = 404, description = "No such tool", body = ErrorBody),
    )
)]
pub async fn create(
    State(tk): State<Tokens>,
    AppKey(caller): AppKey,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<ToolGrantRequest>,
) -> Result<(StatusCode, Json<ToolGrantResponse>), ApiError> {
    let user = UserId::parse("user_id", &req.user_id)?;
    let not_found = || ApiError::new(ErrorName::NotFound, "tool not found");
    let name = ToolName::parse(&name).map_err(|_| not_found())?;
    let tool = tk
        .store
        .get_tool(caller.tenant, &name)
        .await
        .map_err(|e| ApiError::from(CoreError::from(e)))?
        .ok_or_else(not_found)?;
    let now = UnixMillis::now().0 / 1000;
    let ttl = i64::try_from(tk.grant_ttl.as_secs()).unwrap_or(300);
    let claims = ToolGrantClaims {
        iss: tk.public_url.to_string(),
        aud: AUDIENCE.to_owned(),
        sub: user.as_str().to_owned(),
        tnt: caller.tenant.to_string(),
        tool: tool.id.to_string(),
        scp: scope_set(&tool.requirement.scopes, &[], &[]),
        jti: latchkey_core::ids::new_prefixed("tg"),
        iat: now,
        exp: now + ttl,
    };
    let grant = tk.grant_keys.sign(&claims)?;
    Ok((
        StatusCode::CREATED,
        Json(ToolGrantResponse {
            grant,
            expires_at: rfc3339(claims.exp * 1000),
            tool: tool.name.qualified(),
            user_id: claims.sub,
        }),
    ))
}

/// The signing keys of tool grants.
///
/// The public Ed25519 keys (JWK set) that verify tool grants. No key needed.
#[utoipa::path(
    operation_id = "jwks",
    get, path = "/.well-known/jwks.json", tag = "tokens",
    responses((status = 200, description = "The JWK set", body = Object)),
)]
pub async fn jwks(State(tk): State<Tokens>) -> Json<serde_json::Value> {
    Json(tk.grant_keys.jwks())
}
