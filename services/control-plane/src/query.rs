//! Query-string parameters of list routes: each parameter may have several spellings (Arcade's
//! `provider[id]` and `provider_id`, §3.4); given twice, in any spelling, is a 400; unknown
//! parameters are ignored (clients add their own, e.g. `include_format`).

use axum::http::Uri;
use latchkey_api::ErrorName;
use latchkey_api::server::ApiError;

/// The values of `groups` (each a list of spellings of one parameter), in order.
pub(crate) fn params<const N: usize>(
    uri: &Uri,
    groups: [&[&'static str]; N],
) -> Result<[Option<String>; N], ApiError> {
    let mut out: [Option<String>; N] = std::array::from_fn(|_| None);
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        let Some(i) = groups.iter().position(|g| g.contains(&k.as_ref())) else {
            continue;
        };
        if out[i].is_some() {
            return Err(ApiError::new(
                ErrorName::InvalidRequest,
                format!("query parameter `{}` given twice", groups[i][0]),
            ));
        }
        out[i] = Some(v.into_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn spellings_and_duplicates() {
        let uri: Uri = "/x?provider%5Bid%5D=p&user_id=u&other=1".parse().unwrap();
        let v = params(
            &uri,
            [
                &["provider_id", "provider[id]"],
                &["user_id", "user[id]"],
                &["x"],
            ],
        )
        .unwrap();
        assert_eq!(v, [Some("p".to_owned()), Some("u".to_owned()), None]);
        let twice: Uri = "/x?provider_id=a&provider[id]=b".parse().unwrap();
        assert!(params(&twice, [&["provider_id", "provider[id]"]]).is_err());
    }
}
