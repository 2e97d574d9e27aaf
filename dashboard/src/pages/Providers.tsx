import { useEffect, useState } from 'react';
import { api } from '../api/client';
import type { components } from '../api/schema';
import { checked, type PageProps } from '../page';
import { isSnowflake, normalizeScopes, SCOPES, selectableScopes } from '../scopes';
import { ScopePicker } from '../ScopePicker';
import { NameCell, CopyButton, Empty, ErrorMessage, Notice, TableHead } from '../ui';

type Provider = components['schemas']['ProviderResponse'];

const ids = (s: string) =>
  s
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);

function ProviderForm({ editing, props, onSaved, onCancel }: {
  editing: Provider | null;
  props: PageProps;
  onSaved: (p: Provider) => void;
  onCancel: () => void;
}) {
  const [id, setId] = useState(editing?.id ?? '');
  const [description, setDescription] = useState(editing?.description ?? '');
  const [clientId, setClientId] = useState(editing?.oauth2.client_id ?? '');
  const [secret, setSecret] = useState('');
  const [scopes, setScopes] = useState<Set<string>>(new Set(editing?.scopes ?? ['identify']));
  const [guilds, setGuilds] = useState((editing?.policy?.required_guild_ids ?? []).join(', '));
  const [roles, setRoles] = useState((editing?.policy?.required_role_ids ?? []).join(', '));
  const [message, setMessage] = useState(editing?.policy?.message ?? '');
  const [origin, setOrigin] = useState(editing?.endpoint_origin ?? '');
  const [error, setError] = useState<unknown>(null);
  const clientIdProblem = clientId && !isSnowflake(clientId) ? 'A Discord application id is 17 to 20 digits.' : null;

  const submit = async () => {
    setError(null);
    const policy =
      guilds || roles || message
        ? { required_guild_ids: ids(guilds), required_role_ids: ids(roles), message: message || null }
        : {};
    const oauth2 = { client_id: clientId, ...(secret ? { client_secret: secret } : {}) };
    const body = {
      description: description || null,
      oauth2,
      scopes: normalizeScopes(scopes),
      policy,
      endpoint_origin: origin || null,
    };
    const r = editing
      ? await api.PATCH('/v1/admin/auth_providers/{id}', { params: { path: { id: editing.id } }, body })
      : await api.POST('/v1/admin/auth_providers', { body: { ...body, id, provider_id: 'discord' } });
    if (r.data) onSaved(r.data);
    else setError(checked(props, r.response, r.error));
  };

  return (
    <form
      className="card"
      aria-label={editing ? `Edit ${editing.id}` : 'Add a provider'}
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h2>{editing ? `Edit ${editing.id}` : 'Add a Discord application'}</h2>
      {!editing && (
        <>
          <label htmlFor="p-id">Id</label>
          <input id="p-id" required value={id} onChange={(e) => setId(e.target.value)} placeholder="discord-prod" />
          <p className="hint">How apps and tools name this provider; it cannot change later.</p>
        </>
      )}
      <label htmlFor="p-description">Description</label>
      <input id="p-description" value={description} onChange={(e) => setDescription(e.target.value)} />
      <label htmlFor="p-client-id">Client ID</label>
      <input
        id="p-client-id"
        required
        inputMode="numeric"
        value={clientId}
        onChange={(e) => setClientId(e.target.value)}
        aria-invalid={clientIdProblem ? true : undefined}
      />
      {clientIdProblem && <p className="field-error">{clientIdProblem}</p>}
      <label htmlFor="p-secret">Client secret</label>
      <input
        id="p-secret"
        type="password"
        autoComplete="off"
        required={!editing}
        value={secret}
        onChange={(e) => setSecret(e.target.value)}
        placeholder={editing ? `${editing.oauth2.client_secret.hint} — leave empty to keep it` : ''}
      />
      <p className="hint">Write-only: once saved, only its last characters are shown.</p>
      <fieldset>
        <legend>Scopes users are asked for</legend>
        <ScopePicker idPrefix="scope" selected={scopes} onChange={setScopes} showWarnings />
        <p className="hint">
          Not offered: {SCOPES.filter((s) => !selectableScopes().includes(s)).map((s) => s.scope).join(', ')} ({' '}
          {SCOPES.filter((s) => !selectableScopes().includes(s)).map((s) => s.warning).join(' ')})
        </p>
      </fieldset>
      <fieldset>
        <legend>Who may connect (optional)</legend>
        <label htmlFor="p-guilds">Required server ids</label>
        <input id="p-guilds" value={guilds} onChange={(e) => setGuilds(e.target.value)} placeholder="290926798626357250" />
        <label htmlFor="p-roles">Required role ids</label>
        <input id="p-roles" value={roles} onChange={(e) => setRoles(e.target.value)} />
        <label htmlFor="p-message">Message for users who are refused</label>
        <input id="p-message" value={message} onChange={(e) => setMessage(e.target.value)} />
      </fieldset>
      <details>
        <summary>Advanced</summary>
        <label htmlFor="p-origin">Discord endpoint origin</label>
        <input id="p-origin" value={origin} onChange={(e) => setOrigin(e.target.value)} placeholder="https://discord.com" />
        <p className="hint">Only origins your operator allows (the Discord simulator, an egress proxy).</p>
      </details>
      <ErrorMessage error={error} />
      <div className="row">
        <button type="submit" disabled={!!clientIdProblem}>
          {editing ? 'Save' : 'Add provider'}
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function Providers(props: PageProps) {
  const [items, setItems] = useState<Provider[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [form, setForm] = useState<Provider | 'new' | null>(null);
  const [saved, setSaved] = useState<Provider | null>(null);
  const [check, setCheck] = useState<{ id: string; ok: boolean; message: string } | null>(null);

  const load = async () => {
    const r = await api.GET('/v1/admin/auth_providers');
    if (r.data) setItems(r.data.items);
    else setError(checked(props, r.response, r.error));
  };
  useEffect(() => {
    void load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const test = async (p: Provider) => {
    setCheck(null);
    setError(null);
    const r = await api.POST('/v1/admin/auth_providers/{id}/test', { params: { path: { id: p.id } } });
    if (r.data) setCheck({ id: p.id, ...r.data });
    else setError(checked(props, r.response, r.error));
  };

  const remove = async (p: Provider) => {
    if (!window.confirm(`Delete ${p.id}? Its users' connections are deleted and revoked at Discord.`)) return;
    const r = await api.DELETE('/v1/admin/auth_providers/{id}', { params: { path: { id: p.id } } });
    if (r.error) setError(checked(props, r.response, r.error));
    await load();
  };

  return (
    <>
      <ErrorMessage error={error} />
      {check && (
        <p className={check.ok ? 'notice' : 'error'} role={check.ok ? 'status' : 'alert'} data-testid="check">
          <strong>{check.id}:</strong> {check.message}
        </p>
      )}
      {saved && (
        <Notice>
          Saved <strong>{saved.id}</strong>. Add this redirect URI to your Discord application (OAuth2 → Redirects):{' '}
          <code data-testid="redirect-uri">{saved.oauth2.redirect_uri}</code> <CopyButton value={saved.oauth2.redirect_uri} />
        </Notice>
      )}
      {form ? (
        <ProviderForm
          editing={form === 'new' ? null : form}
          props={props}
          onCancel={() => setForm(null)}
          onSaved={(p) => {
            setForm(null);
            setSaved(p);
            void load();
          }}
        />
      ) : (
        <button type="button" onClick={() => setForm('new')}>
          Add a provider
        </button>
      )}
      {items && items.length === 0 && !form && (
        <Empty title="No Discord application yet">
          Create an application in Discord's developer portal, then add its client ID and secret here. Users can connect
          once you also set a verifier (Verification).
        </Empty>
      )}
      {items && items.length > 0 && (
        <table>
          <TableHead columns={['Id', 'Client ID', 'Scopes', 'Redirect URI', 'Status']} actions />
          <tbody>
            {items.map((p) => (
              <tr key={p.id}>
                <NameCell name={p.id} hint={p.description} />
                <td>
                  <code>{p.oauth2.client_id}</code>
                  <div className="hint">secret {p.oauth2.client_secret.hint}</div>
                </td>
                <td>{p.scopes.join(' ')}</td>
                <td>
                  <code className="wrap">{p.oauth2.redirect_uri}</code> <CopyButton value={p.oauth2.redirect_uri} />
                </td>
                <td>{p.status}</td>
                <td className="actions">
                  <button type="button" className="secondary" onClick={() => void test(p)}>
                    Test
                  </button>
                  <button type="button" className="secondary" onClick={() => setForm(p)}>
                    Edit
                  </button>
                  <button type="button" className="danger" onClick={() => void remove(p)}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
