import { useEffect, useState } from 'react';
import { api } from '../api/client';
import type { components } from '../api/schema';
import { checked, type PageProps } from '../page';
import { ErrorMessage, Notice } from '../ui';

type Settings = components['schemas']['VerificationSettingsResponse'];
type Test = components['schemas']['ValidateVerifierResponse'];

export function Verification(props: PageProps) {
  const [settings, setSettings] = useState<Settings | null>(null);
  const [url, setUrl] = useState('');
  const [origins, setOrigins] = useState('');
  const [skip, setSkip] = useState(false);
  const [accountSwitch, setAccountSwitch] = useState('notify');
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const [testUser, setTestUser] = useState('');
  const [test, setTest] = useState<Test | null>(null);
  const [testError, setTestError] = useState<unknown>(null);

  const show = (s: Settings) => {
    setSettings(s);
    setUrl(s.verifier_url ?? '');
    setOrigins(s.allowed_next_uri_origins.join('\n'));
    setSkip(s.unsafe_skip_verification);
    setAccountSwitch(s.account_switch);
  };
  useEffect(() => {
    api.GET('/v1/admin/settings/session_verification').then((r) => {
      if (r.data) show(r.data);
      else setError(checked(props, r.response, r.error));
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const save = async () => {
    setError(null);
    setSaved(false);
    const r = await api.PUT('/v1/admin/settings/session_verification', {
      body: {
        verifier_url: url || null,
        allowed_next_uri_origins: origins.split(/\s+/).filter(Boolean),
        unsafe_skip_verification: skip,
        account_switch: accountSwitch,
      },
    });
    if (r.data) {
      show(r.data);
      setSaved(true);
      props.onVerificationChanged(r.data.unsafe_skip_verification);
    } else setError(checked(props, r.response, r.error));
  };

  const runTest = async () => {
    setTestError(null);
    setTest(null);
    const r = await api.POST('/v1/auth/validate_custom_verifier', { body: { user_id: testUser, verifier_url: url } });
    if (r.data) setTest(r.data);
    else setTestError(checked(props, r.response, r.error));
  };

  if (!settings) return <ErrorMessage error={error} />;
  return (
    <>
      <form
        className="card"
        aria-label="Verification settings"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <p>
          After a user consents at Discord, Latchkey sends their browser to your <strong>verifier</strong>, which
          confirms which of your users is signed in (docs/verifier.md). Until one is set, no authorization can start.
        </p>
        <label htmlFor="v-url">Verifier URL</label>
        <input id="v-url" type="url" value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://app.example.com/latchkey/verify" />
        <label htmlFor="v-origins">Allowed next_uri origins (one per line)</label>
        <textarea id="v-origins" rows={3} value={origins} onChange={(e) => setOrigins(e.target.value)} />
        <label htmlFor="v-switch">When a user reconnects with another Discord account</label>
        <select id="v-switch" value={accountSwitch} onChange={(e) => setAccountSwitch(e.target.value)}>
          <option value="notify">Switch to the new account and record it</option>
          <option value="require_ack">Hold the new account until an admin acknowledges it</option>
        </select>
        <div className="check danger-zone">
          <input
            type="checkbox"
            id="v-skip"
            checked={skip}
            disabled={!settings.unsafe_skip_verification_choice_allowed}
            onChange={(e) => setSkip(e.target.checked)}
          />
          <label htmlFor="v-skip">
            <strong>Skip verification (unsafe)</strong> — anyone who opens a user's link connects their own Discord
            account to that user. For local development only.
            {!settings.unsafe_skip_verification_choice_allowed && ' Your operator does not allow it here.'}
          </label>
        </div>
        {skip && (
          <p className="warning" role="alert">
            Verification is off: do not use this tenant with real users.
          </p>
        )}
        <ErrorMessage error={error} />
        {saved && <Notice>Saved.</Notice>}
        <button type="submit">Save</button>
      </form>
      <form
        className="card"
        aria-label="Test my verifier"
        onSubmit={(e) => {
          e.preventDefault();
          void runTest();
        }}
      >
        <h2>Test my verifier</h2>
        <p>
          Starts a test flow (no Discord step, never a connection) for a user of your app. Sign in to your app as that
          user, then open the link: your verifier should confirm it.
        </p>
        <label htmlFor="v-test-user">Your app's user id</label>
        <input id="v-test-user" required value={testUser} onChange={(e) => setTestUser(e.target.value)} />
        <button type="submit" disabled={!url}>
          Start a test
        </button>
        <ErrorMessage error={testError} />
        {test && (
          <Notice>
            Open <a href={`${url}?flow_id=${encodeURIComponent(test.flow_id)}`}>your verifier with the test flow</a>; the
            outcome appears at <a href={test.next_uri}>Latchkey's test page</a>.
          </Notice>
        )}
      </form>
    </>
  );
}
