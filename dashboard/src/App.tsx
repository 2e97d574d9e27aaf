// The dashboard shell: the session (sign-in with an admin key, exchanged for an HttpOnly
// cookie), the navigation, and the page for the current path under /dashboard/.
import { useCallback, useEffect, useState } from 'react';
import { api, setCsrfToken } from './api/client';
import type { components } from './api/schema';
import { SignIn } from './pages/SignIn';
import { Providers } from './pages/Providers';
import { Tools } from './pages/Tools';
import { Verification } from './pages/Verification';
import { Connections } from './pages/Connections';
import { ApiKeys } from './pages/ApiKeys';
import { Audit } from './pages/Audit';
import { Authorizations } from './pages/Authorizations';
import { UsagePage } from './pages/Usage';

type Session = components['schemas']['SessionResponse'];

export const PAGES = [
  { path: 'providers', title: 'Providers', Page: Providers },
  { path: 'tools', title: 'Tools', Page: Tools },
  { path: 'verification', title: 'Verification', Page: Verification },
  { path: 'connections', title: 'Connections', Page: Connections },
  { path: 'authorizations', title: 'Authorizations', Page: Authorizations },
  { path: 'usage', title: 'Usage', Page: UsagePage },
  { path: 'keys', title: 'API keys', Page: ApiKeys },
  { path: 'audit', title: 'Audit log', Page: Audit },
] as const;

const BASE = '/dashboard/';

function currentPath(): string {
  const p = window.location.pathname.startsWith(BASE) ? window.location.pathname.slice(BASE.length) : '';
  return PAGES.some((x) => x.path === p) ? p : 'providers';
}

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [path, setPath] = useState(currentPath());
  const [skipped, setSkipped] = useState(false);

  // Whether this tenant skips user verification: a banner says so on every page (V-T14).
  useEffect(() => {
    if (!session) return;
    api.GET('/v1/admin/settings/session_verification').then(({ data }) => setSkipped(!!data?.unsafe_skip_verification));
  }, [session]);

  useEffect(() => {
    api.GET('/v1/dashboard/session').then(({ data }) => {
      setCsrfToken(data?.csrf_token ?? null);
      setSession(data ?? null);
    }, () => setSession(null));
    const onPop = () => setPath(currentPath());
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const go = useCallback((p: string) => {
    window.history.pushState(null, '', BASE + p);
    setPath(p);
  }, []);

  const signOut = async () => {
    await api.DELETE('/v1/dashboard/session');
    setCsrfToken(null);
    setSession(null);
  };

  if (session === undefined) {
    return <p className="loading">Loading…</p>;
  }
  if (session === null) {
    return (
      <SignIn
        onSignedIn={(s) => {
          setCsrfToken(s.csrf_token);
          setSession(s);
        }}
      />
    );
  }
  const current = PAGES.find((p) => p.path === path) ?? PAGES[0];
  const { Page } = current;
  return (
    <div className="shell">
      <header>
        <span className="brand">Latchkey</span>
        <span className="tenant" title={session.tenant_id}>
          {session.tenant_name}
        </span>
        <button type="button" className="secondary" onClick={signOut}>
          Sign out
        </button>
      </header>
      {skipped && (
        <div className="banner" role="alert">
          <strong>User verification is off for this tenant.</strong> Anyone who opens one of your users' links can
          connect their own Discord account to that user. Set a verifier and turn skipping off in{' '}
          <a
            href={BASE + 'verification'}
            onClick={(e) => {
              e.preventDefault();
              go('verification');
            }}
          >
            Verification
          </a>{' '}
          before real users connect.
        </div>
      )}
      <nav aria-label="Sections">
        <ul>
          {PAGES.map((p) => (
            <li key={p.path}>
              <a
                href={BASE + p.path}
                aria-current={p.path === current.path ? 'page' : undefined}
                onClick={(e) => {
                  e.preventDefault();
                  go(p.path);
                }}
              >
                {p.title}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main>
        <h1>{current.title}</h1>
        <Page onSessionEnded={() => setSession(null)} onVerificationChanged={setSkipped} />
      </main>
    </div>
  );
}
