//! What the examples' tests share: a scripted browser's steps through consent and the example
//! verifier app's login.
#![allow(clippy::unwrap_used, dead_code)]

use latchkey_conformance::browser::{Browser, Page};
use latchkey_examples::{Demo, NELLY};
use reqwest::StatusCode;

/// `location` of `page`, resolved against `base`.
pub fn next(base: &str, page: &Page) -> String {
    let loc = page
        .location
        .as_deref()
        .unwrap_or_else(|| panic!("no redirect: {} {}", page.status, page.body));
    url::Url::parse(base)
        .unwrap()
        .join(loc)
        .unwrap()
        .to_string()
}

/// A browser: consents at Discord as Nelly through `link`, and answers the verifier URL
/// Latchkey sends it to.
pub async fn consent(b: &mut Browser, demo: &Demo, link: &str) -> String {
    b.set_cookie(&demo.sim.base_url(), "sim_user", NELLY);
    let back = b.consent(link).await.unwrap();
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    next(link, &back)
}

pub async fn sign_in(
    b: &mut Browser,
    app: &str,
    user: &str,
    password: &str,
    next_path: &str,
) -> Page {
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("username", user)
        .append_pair("password", password)
        .append_pair("next", next_path)
        .finish();
    b.post_form(&format!("{app}/login"), &form).await.unwrap()
}

/// A fresh browser signed in to the app as `user` consents through `link` and reaches the
/// verifier: the verifier's answer.
pub async fn complete(demo: &Demo, app: &str, link: &str, user: &str, password: &str) -> Page {
    let mut b = Browser::new().unwrap();
    let signed_in = sign_in(&mut b, app, user, password, "/").await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    let verify = consent(&mut b, demo, link).await;
    b.get(&verify).await.unwrap()
}
