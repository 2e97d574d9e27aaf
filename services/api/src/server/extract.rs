//! Request extractors that answer in the error-body shape: `JsonBody<T>` (malformed JSON or a
//! wrong shape → 400 `invalid_request`, a non-JSON content type → 415, over the body limit →
//! 413; never echoing the input) and `PageQuery` (Arcade's `limit`/`offset`, §10.4).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use http::request::Parts;
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::ErrorName;

/// A JSON request body.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::new(
                ErrorName::UnsupportedMediaType,
                "request bodies must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                tracing::debug!(reason = %rejection.body_text(), "request body refused");
                if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    ApiError::new(
                        ErrorName::InvalidRequest,
                        "the request body could not be read",
                    )
                }
            })?;
        // serde_json skips unknown fields without checking their text: check it all here, so
        // invalid UTF-8 anywhere in a body is refused (security.md S12).
        if std::str::from_utf8(&bytes).is_err() {
            return Err(ApiError::new(
                ErrorName::InvalidRequest,
                "the request body is not valid UTF-8",
            ));
        }
        // Every body is an object: serde would also take a struct's fields as a positional
        // array (`["name", "app"]`), which no client means.
        if bytes
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            .is_some_and(|b| *b != b'{')
        {
            return Err(ApiError::new(
                ErrorName::InvalidRequest,
                "the request body must be a JSON object",
            ));
        }
        // Plain serde_json first: axum's `Json::from_bytes` tracks each field's path for its
        // error text (`serde_path_to_error`), which only a refusal needs; it runs then, to tell
        // a syntax error from a data error.
        match serde_json::from_slice(&bytes) {
            Ok(v) => Ok(Self(v)),
            Err(_) => Err(
                axum::Json::<T>::from_bytes(&bytes).map_or_else(json_rejection, |_| {
                    ApiError::new(
                        ErrorName::InvalidRequest,
                        "the request body is not valid JSON",
                    )
                }),
            ),
        }
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        ErrorName::PayloadTooLarge,
        "the request body is larger than 64 KiB",
    )
}

/// `application/json` or `application/*+json`, as axum's own `Json` accepts.
fn json_content_type(headers: &http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or_default().trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    let suffix = sub.len().checked_sub(5).and_then(|at| sub.get(at..));
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json")
            || suffix.is_some_and(|s| s.eq_ignore_ascii_case("+json")))
}

#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "JsonRejection is non_exhaustive"
)]
fn json_rejection(rejection: JsonRejection) -> ApiError {
    tracing::debug!(reason = %rejection.body_text(), "request body refused");
    match rejection {
        JsonRejection::JsonSyntaxError(_) => ApiError::new(
            ErrorName::InvalidRequest,
            "the request body is not valid JSON",
        ),
        JsonRejection::JsonDataError(_) => ApiError::new(
            ErrorName::InvalidRequest,
            "the request body is missing a required field or has a field of the wrong type",
        ),
        other if other.status() == http::StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        _ => ApiError::new(
            ErrorName::InvalidRequest,
            "the request body could not be read",
        ),
    }
}

/// `limit` (default and maximum 100) and `offset` (default 0) of a list request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageQuery {
    /// Page size, 1–100.
    pub limit: u32,
    /// Items to skip.
    pub offset: u64,
}

/// The default and largest page size.
pub const MAX_PAGE: u32 = 100;

impl PageQuery {
    /// Parses a raw query string: unknown parameters are ignored; a known one given twice,
    /// negative, zero (`limit`) or not an integer → 400.
    pub fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let mut limit: Option<u64> = None;
        let mut offset: Option<u64> = None;
        for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let slot = match k.as_ref() {
                "limit" => &mut limit,
                "offset" => &mut offset,
                _ => continue,
            };
            if slot.is_some() {
                return Err(ApiError::new(
                    ErrorName::InvalidRequest,
                    format!("query parameter `{k}` given twice"),
                ));
            }
            let n = v.parse::<u64>().map_err(|_| {
                ApiError::new(
                    ErrorName::InvalidRequest,
                    format!("`{k}` must be a non-negative integer"),
                )
            })?;
            *slot = Some(n);
        }
        Self::new(limit, offset)
    }

    /// The page from already separated values (gRPC's `limit` and `offset` fields), with the
    /// same rules: absent `limit` → 100, above 100 → 100, zero → 400; absent `offset` → 0.
    pub fn new(limit: Option<u64>, offset: Option<u64>) -> Result<Self, ApiError> {
        if limit == Some(0) {
            return Err(ApiError::new(
                ErrorName::InvalidRequest,
                "`limit` must be at least 1",
            ));
        }
        let limit = u32::try_from(
            limit
                .unwrap_or(u64::from(MAX_PAGE))
                .min(u64::from(MAX_PAGE)),
        )
        .unwrap_or(MAX_PAGE);
        Ok(Self {
            limit,
            offset: offset.unwrap_or(0),
        })
    }

    /// The page of `all` this query asks for.
    pub fn page<T: Clone + utoipa::ToSchema>(&self, all: &[T]) -> crate::Page<T> {
        let (items, page_count, total_count) = self.slice(all);
        crate::Page {
            items,
            limit: self.limit,
            offset: self.offset,
            page_count,
            total_count,
        }
    }

    /// The slice of `all` this page covers, with the page numbers.
    pub fn slice<T: Clone>(&self, all: &[T]) -> (Vec<T>, u64, u64) {
        let start = usize::try_from(self.offset)
            .unwrap_or(usize::MAX)
            .min(all.len());
        let end = start.saturating_add(self.limit as usize).min(all.len());
        (
            all[start..end].to_vec(),
            (end - start) as u64,
            all.len() as u64,
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::parse(parts.uri.query())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types_are_told_from_others_in_any_case() {
        let accepts = |ct: &str| {
            let mut h = http::HeaderMap::new();
            h.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_str(ct).unwrap(),
            );
            json_content_type(&h)
        };
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            " application/json ;charset=utf-8",
            "application/problem+json",
            "application/vnd.api+JSON",
            "application/+json",
        ] {
            assert!(accepts(ok), "{ok}");
        }
        for bad in [
            "",
            "json",
            "text/json",
            "text/plain",
            "application/jsonx",
            "application/x-www-form-urlencoded",
            "application/json+xml",
            "applicationjson",
            "application/json5",
            "text/x+json",
        ] {
            assert!(!accepts(bad), "{bad}");
        }
        assert!(!json_content_type(&http::HeaderMap::new()));
    }

    #[tokio::test]
    async fn a_body_is_read_as_before_and_a_bad_one_is_named_without_its_text() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            #[allow(dead_code, reason = "read by the deserializer")]
            user_id: String,
        }
        async fn read(body: &'static str) -> Result<JsonBody<Body>, ApiError> {
            let req = http::Request::builder()
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(axum::body::Body::from(body))
                .unwrap();
            JsonBody::<Body>::from_request(req, &()).await
        }
        assert!(read(r#"{"user_id":"alice"}"#).await.is_ok());
        assert!(read(" {\"user_id\":\"alice\"}\n").await.is_ok());
        for (bad, message) in [
            (r#"{"user_id":"alice""#, "not valid JSON"),
            (r#"{"user_id":"alice"} x"#, "not valid JSON"),
            (r#"{"user_id":5}"#, "wrong type"),
            (r#"{}"#, "missing a required field"),
            (
                r#"{"user_id":"a","secret_xyz":1}"#,
                "missing a required field",
            ),
        ] {
            let e = read(bad).await.err().unwrap();
            let text = format!("{e:?}");
            assert!(text.contains(message), "{bad}: {text}");
            assert!(
                !text.contains("secret_xyz") && !text.contains("alice"),
                "{text}"
            );
        }
    }

    #[test]
    fn page_queries() {
        assert_eq!(
            PageQuery::parse(None).unwrap(),
            PageQuery {
                limit: 100,
                offset: 0
            }
        );
        assert_eq!(
            PageQuery::parse(Some("limit=5&offset=10&x=1")).unwrap(),
            PageQuery {
                limit: 5,
                offset: 10
            }
        );
        assert_eq!(
            PageQuery::parse(Some("limit=5000")).unwrap().limit,
            100,
            "clamped"
        );
        for bad in [
            "limit=-1",
            "offset=-3",
            "limit=abc",
            "limit=0",
            "limit=1&limit=2",
            "offset=1.5",
        ] {
            assert!(PageQuery::parse(Some(bad)).is_err(), "{bad}");
        }
        let p = PageQuery {
            limit: 2,
            offset: 3,
        };
        assert_eq!(p.slice(&[1, 2, 3, 4, 5, 6]), (vec![4, 5], 2, 6));
        assert_eq!(
            PageQuery {
                limit: 2,
                offset: 99
            }
            .slice(&[1]),
            (vec![], 0, 1)
        );
    }
}
