// The admin REST API, typed from openapi.yaml (`npm run gen` writes schema.d.ts). The browser
// never holds a key: the session cookie (HttpOnly) authenticates, and every write carries the
// session's CSRF token.
import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema';

let csrfToken: string | null = null;

/** Remembers the session's CSRF token (from sign-in or GET /v1/dashboard/session). */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

const csrf: Middleware = {
  onRequest({ request }) {
    if (!['GET', 'HEAD', 'OPTIONS'].includes(request.method) && csrfToken) {
      request.headers.set('X-CSRF-Token', csrfToken);
    }
    return request;
  },
};

export const api = createClient<paths>({
  baseUrl: globalThis.location?.origin ?? '',
  credentials: 'same-origin',
  // Looked up on each call (tests replace it).
  fetch: (request: Request) => globalThis.fetch(request),
});
api.use(csrf);
