//! `latchkey-authorization` will hold the authorization service: `POST /v1/auth/authorize`,
//! `GET /v1/auth/status` with long-poll `wait`, the browser start page and Discord callback, the
//! hand-off to the tenant's verifier and `confirm_user` (DESIGN.md §5). It arrives with
//! issue 5; nothing here yet.
