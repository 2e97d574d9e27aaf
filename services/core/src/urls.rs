//! Strict validation of tenant-supplied URLs (security.md §5.9 P7–P16, §5.10 RB1–RB17): the
//! verifier URL and the `next_uri` origin allow-list. A URL is accepted only in its own WHATWG
//! serialisation, so no alternative spelling (case, dot segments, non-punycode hosts, `https:x`)
//! is ever stored, compared or echoed.

use url::{Host, Url};

use crate::error::CoreError;

/// What the operator allows beyond the strict rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct UrlPolicy {
    /// Admit `http://` on loopback hosts (`127.0.0.1`, `[::1]`, `localhost`) — test deployments.
    pub allow_insecure_loopback: bool,
}

const MAX_LEN: usize = 2048;

fn invalid(field: &'static str, message: &str) -> CoreError {
    CoreError::Invalid {
        field,
        message: message.to_owned(),
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => *d == "localhost" || d.ends_with(".localhost"),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Checks scheme, host and userinfo; returns the parsed URL.
fn check_common(field: &'static str, raw: &str, policy: UrlPolicy) -> Result<Url, CoreError> {
    if raw.len() > MAX_LEN {
        return Err(invalid(field, "must be at most 2048 characters"));
    }
    if raw.contains('*') {
        return Err(invalid(field, "must not contain wildcards"));
    }
    let url = Url::parse(raw).map_err(|_| invalid(field, "must be an absolute https URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(field, "must not contain user information"));
    }
    let host = url
        .host()
        .ok_or_else(|| invalid(field, "must have a host"))?;
    let loopback = is_loopback(&host);
    match url.scheme() {
        "https" => {}
        "http" if loopback && policy.allow_insecure_loopback => {}
        "http" => {
            return Err(invalid(
                field,
                "must use https (http is allowed only for loopback in test deployments)",
            ));
        }
        _ => return Err(invalid(field, "must be an https URL")),
    }
    match host {
        Host::Domain(d) => {
            let dev_loopback = loopback && policy.allow_insecure_loopback;
            if loopback && !dev_loopback {
                return Err(invalid(field, "must not name a loopback host"));
            }
            if d.ends_with('.') || !(d.contains('.') || dev_loopback) {
                return Err(invalid(
                    field,
                    "must name a fully qualified host without a trailing dot",
                ));
            }
        }
        Host::Ipv4(_) | Host::Ipv6(_) if loopback && policy.allow_insecure_loopback => {}
        Host::Ipv4(_) | Host::Ipv6(_) => {
            return Err(invalid(field, "must name a host, not an IP address"));
        }
    }
    Ok(url)
}

/// A verifier URL: an absolute https URL with no userinfo, query or fragment, exactly in its
/// serialised form.
pub fn verifier_url(raw: &str, policy: UrlPolicy) -> Result<String, CoreError> {
    const FIELD: &str = "verifier_url";
    let url = check_common(FIELD, raw, policy)?;
    if url.query().is_some() || url.fragment().is_some() || raw.contains('?') || raw.contains('#') {
        return Err(invalid(FIELD, "must not carry a query or a fragment"));
    }
    if url.as_str() != raw {
        return Err(invalid(
            FIELD,
            "must be written in its normal form (lower-case scheme and host, punycode, no dot segments)",
        ));
    }
    Ok(raw.to_owned())
}

/// An allowed `next_uri` origin: `scheme://host[:port]`, nothing else.
pub fn origin(raw: &str, policy: UrlPolicy) -> Result<String, CoreError> {
    const FIELD: &str = "allowed_next_uri_origins";
    let url = check_common(FIELD, raw, policy)?;
    if url.origin().ascii_serialization() != raw {
        return Err(invalid(
            FIELD,
            "each entry must be an origin written as scheme://host[:port], with no path",
        ));
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_insecure_loopback: false,
    };
    const DEV: UrlPolicy = UrlPolicy {
        allow_insecure_loopback: true,
    };

    #[test]
    fn verifier_urls() {
        assert!(verifier_url("https://app.example.com/latchkey/verify", STRICT).is_ok());
        for bad in [
            "http://app.example.com/v",
            "javascript:alert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
            "https://good.example@evil.example/",
            "https://127.0.0.1/v",
            "https://169.254.169.254/v",
            "https://[::1]/v",
            "https://localhost/v",
            "https://foo.localhost/v",
            "https://app.example.com/v#frag",
            "https://app.example.com./v",
            "https:\\\\evil.example",
            "https:/\\evil.example",
            "https://*.tenant.example/cb",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "https:evil.example",
            "https://good.example%2F@evil.example",
            "https://good.example:443@evil.example",
            "https://good.example\\@evil.example",
            "%0d%0aLocation:%20https://evil.example",
            "https://good.example%00.evil.example",
            "https://ɡood.example/v",
            "HTTPS://GOOD.EXAMPLE/CB",
            "https://good.example/cb/../../evil",
            "https://good.example/cb?next=https://evil.example",
            "https://good.example/cb?",
        ] {
            assert!(verifier_url(bad, STRICT).is_err(), "{bad}");
        }
        assert!(verifier_url(&format!("https://a.example/{}", "x".repeat(2100)), STRICT).is_err());
        assert!(
            verifier_url("http://127.0.0.1:8123/verify", DEV).is_ok(),
            "loopback http under the dev allowance"
        );
        assert!(verifier_url("http://localhost:8123/verify", DEV).is_ok());
        assert!(
            verifier_url("http://10.0.0.1/verify", DEV).is_err(),
            "private ranges are never loopback"
        );
    }

    #[test]
    fn origins() {
        assert!(origin("https://app.example.com", STRICT).is_ok());
        assert!(origin("https://app.example.com:8443", STRICT).is_ok());
        for bad in [
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://APP.example.com",
            "https://app.example.com:443",
            "http://app.example.com",
            "https://u@app.example.com",
            "https://*.example.com",
            "https://app.example.com.",
        ] {
            assert!(origin(bad, STRICT).is_err(), "{bad}");
        }
        assert!(origin("http://127.0.0.1:3000", DEV).is_ok());
    }
}
