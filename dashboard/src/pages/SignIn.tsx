import { useState } from 'react';
import { api } from '../api/client';
import type { components } from '../api/schema';
import { ErrorMessage } from '../ui';

type Session = components['schemas']['SessionResponse'];

/** Sign in with an admin key; the key goes to Latchkey once and is never stored here. */
export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main className="signin">
      <h1>Sign in to Latchkey</h1>
      <p>
        Paste an <strong>admin key</strong> of your tenant (<code>lk_…</code>). It is exchanged for a session that ends
        when you sign out, after a few hours, or when the key is revoked; the key itself is not kept in this browser.
      </p>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            const { data, error } = await api.POST('/v1/dashboard/session', { body: { api_key: key.trim() } });
            if (data) {
              setKey('');
              onSignedIn(data);
            } else if (error?.name === 'unauthorized') {
              setError({ ...error, message: 'That is not a valid key (or it was revoked).' });
            } else {
              setError(error);
            }
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label htmlFor="api-key">Admin key</label>
        <input
          id="api-key"
          name="api_key"
          type="password"
          autoComplete="off"
          required
          value={key}
          onChange={(e) => setKey(e.target.value)}
          aria-describedby="signin-error"
        />
        <div id="signin-error">
          <ErrorMessage error={error} />
        </div>
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p className="hint">
        No admin key? <code>make run</code> prints one for your first tenant; <code>latchkey tenant create</code> makes
        another.
      </p>
    </main>
  );
}
