//! A browser for scripted flows: its own cookie jar per origin, no automatic redirects, and
//! the steps of Latchkey's consent flow (start link → interstitial → Discord → callback →
//! verifier). Each person in a scenario gets their own `Browser`, as they would their own
//! browser profile.

use std::collections::HashMap;

use anyhow::{Context, bail};
use reqwest::{Method, StatusCode};

/// One HTTP answer as a browser sees it.
pub struct Page {
    /// The status.
    pub status: StatusCode,
    /// The `Location` header, if any.
    pub location: Option<String>,
    /// The body, as text.
    pub body: String,
    /// Every header.
    pub headers: reqwest::header::HeaderMap,
}

/// A cookie jar and an HTTP client that does not follow redirects.
pub struct Browser {
    http: reqwest::Client,
    jar: HashMap<String, HashMap<String, String>>,
}

fn origin_of(url: &str) -> anyhow::Result<String> {
    Ok(url::Url::parse(url)
        .with_context(|| format!("not a URL: {url}"))?
        .origin()
        .ascii_serialization())
}

impl Browser {
    /// A browser with no cookies.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            jar: HashMap::new(),
        })
    }

    /// Sets a cookie for `origin` (e.g. the simulator's signed-in Discord user, `sim_user`).
    pub fn set_cookie(&mut self, origin: &str, name: &str, value: &str) {
        self.jar
            .entry(origin.to_owned())
            .or_default()
            .insert(name.to_owned(), value.to_owned());
    }

    /// The cookies held for `origin`.
    pub fn cookies(&self, origin: &str) -> HashMap<String, String> {
        self.jar.get(origin).cloned().unwrap_or_default()
    }

    async fn send(
        &mut self,
        method: Method,
        url: &str,
        form: Option<String>,
    ) -> anyhow::Result<Page> {
        let origin = origin_of(url)?;
        let mut req = self.http.request(method, url);
        let cookies = self.cookies(&origin);
        if !cookies.is_empty() {
            let header: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("cookie", header.join("; "));
        }
        if let Some(f) = form {
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .header("origin", origin.clone())
                .body(f);
        }
        let r = req
            .send()
            .await
            .with_context(|| format!("requesting {url}"))?;
        for sc in r.headers().get_all("set-cookie") {
            let sc = sc.to_str().unwrap_or_default();
            let (pair, _) = sc.split_once(';').unwrap_or((sc, ""));
            if let Some((k, v)) = pair.split_once('=') {
                self.set_cookie(&origin, k.trim(), v.trim());
            }
        }
        let status = r.status();
        let headers = r.headers().clone();
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = r.text().await.unwrap_or_default();
        Ok(Page {
            status,
            location,
            body,
            headers,
        })
    }

    /// `GET url`.
    pub async fn get(&mut self, url: &str) -> anyhow::Result<Page> {
        self.send(Method::GET, url, None).await
    }

    /// `POST url` with a form body (and this origin's `Origin` header, as a browser sends).
    pub async fn post_form(&mut self, url: &str, form: &str) -> anyhow::Result<Page> {
        self.send(Method::POST, url, Some(form.to_owned())).await
    }

    /// Opens the start link and clicks Continue: the answer is the 303 to Discord.
    pub async fn click_through(&mut self, link: &str) -> anyhow::Result<Page> {
        let page = self.get(link).await?;
        if page.status != StatusCode::OK {
            bail!("the start link answered {}", page.status);
        }
        let csrf = csrf_field(&page.body).context("no CSRF field on the interstitial")?;
        self.post_form(link, &format!("csrf={}", urlencode(&csrf)))
            .await
    }

    /// Start link → Discord (consenting as the Discord user signed in there) → Latchkey's
    /// callback. The callback's answer.
    pub async fn consent(&mut self, link: &str) -> anyhow::Result<Page> {
        let to_discord = self.click_through(link).await?;
        let to_discord = to_discord
            .location
            .filter(|_| to_discord.status == StatusCode::SEE_OTHER)
            .with_context(|| format!("no redirect to Discord ({})", to_discord.status))?;
        let at_discord = self.get(&to_discord).await?;
        let back = at_discord
            .location
            .with_context(|| format!("Discord did not redirect back ({})", at_discord.status))?;
        self.get(&back).await
    }
}

/// `s` form-urlencoded.
pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The CSRF field of an interstitial page.
pub fn csrf_field(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + 19;
    Some(html[at..at + html[at..].find('"')?].to_owned())
}

/// The `flow_id` query parameter of a verifier URL.
pub fn flow_id_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == "flow_id")
        .map(|(_, v)| v.into_owned())
}
