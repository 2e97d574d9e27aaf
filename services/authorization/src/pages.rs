//! The browser pages: small, self-contained HTML with every interpolated value escaped, and
//! headers that keep them out of caches, frames and referrers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// HTML-escapes text for element content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The headers every browser response carries.
pub(crate) fn harden(resp: &mut Response, form_action: Option<&str>) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // The click's 303 to Discord is a navigation that follows a form submission, which
    // `form-action` governs too: Discord's authorize origin is listed when the page has a form.
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'{}",
        form_action.map(|o| format!(" {o}")).unwrap_or_default()
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
}

/// A page with a title and a body of already-escaped HTML.
pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    page_with(status, title, body, None)
}

/// [`page`] whose form may lead to `form_action` (an origin).
pub(crate) fn page_with(
    status: StatusCode,
    title: &str,
    body: &str,
    form_action: Option<&str>,
) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1f}}\
         .warn{{background:#fff4e5;border:1px solid #f0b35b;padding:.75rem;border-radius:.5rem}}\
         button{{font-size:1rem;padding:.6rem 1.2rem;border-radius:.4rem;border:0;background:#5865f2;color:#fff;cursor:pointer}}\
         li{{margin:.3rem 0}} code{{background:#f2f2f5;padding:0 .2rem}}</style></head>\
         <body><h1>{t}</h1>{body}</body></html>",
        t = escape(title),
    );
    let mut resp = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        html,
    )
        .into_response();
    harden(&mut resp, form_action);
    resp
}

/// A page that tells the user what went wrong and what to do, with nothing from the request in
/// it.
pub(crate) fn problem(status: StatusCode, title: &str, advice: &str) -> Response {
    page(status, title, &format!("<p>{}</p>", escape(advice)))
}

/// A `303 See Other` that keeps its target out of referrers and caches.
pub(crate) fn see_other(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    harden(&mut resp, None);
    resp
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escaping_neutralises_markup() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }
}
