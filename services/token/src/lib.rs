//! `latchkey-token` will hold the token service: `POST /v1/tokens` for registered tools,
//! tool-grant JWTs and JWKS, race-free refresh, and the Discord proxy that injects the token so
//! the tool never sees it (DESIGN.md §5). It arrives with issue 6; nothing here yet.
