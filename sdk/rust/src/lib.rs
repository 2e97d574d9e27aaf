//! `latchkey-sdk` will be the typed Rust client for apps (`auth.start`, `wait_for_completion`,
//! `confirm_user`, `tools.authorize`) and for tool authors (tool declarations, tokens, the
//! Discord proxy). It depends on `latchkey-api` only. It arrives with issue 7; nothing here yet.
