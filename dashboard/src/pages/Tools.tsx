import { useEffect, useState } from 'react';
import { api } from '../api/client';
import type { components } from '../api/schema';
import { checked, type PageProps } from '../page';
import { normalizeScopes } from '../scopes';
import { ScopePicker } from '../ScopePicker';
import { NameCell, Empty, ErrorMessage, ShowOnce, TableHead } from '../ui';

type Tool = components['schemas']['ToolResponse'];
type Provider = components['schemas']['ProviderResponse'];

export function Tools(props: PageProps) {
  const [items, setItems] = useState<Tool[] | null>(null);
  const [providers, setProviders] = useState<Provider[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [adding, setAdding] = useState(false);
  const [editing, setEditing] = useState<Tool | null>(null);
  const [key, setKey] = useState<{ tool: string; secret: string } | null>(null);
  const [name, setName] = useState('');
  const [version, setVersion] = useState('1.0.0');
  const [description, setDescription] = useState('');
  const [pinned, setPinned] = useState('');
  const [scopes, setScopes] = useState<Set<string>>(new Set(['identify']));

  const load = async () => {
    const [t, p] = await Promise.all([api.GET('/v1/admin/tools'), api.GET('/v1/admin/auth_providers')]);
    if (t.data) setItems(t.data.items);
    else setError(checked(props, t.response, t.error));
    if (p.data) setProviders(p.data.items);
  };
  useEffect(() => {
    void load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const startEdit = (t: Tool) => {
    setEditing(t);
    setName(t.name);
    setVersion(t.version);
    setDescription(t.description ?? '');
    setPinned(t.requirement.id ?? '');
    setScopes(new Set(t.requirement.oauth2.scopes ?? []));
    setAdding(true);
  };

  const register = async () => {
    setError(null);
    const body = {
      version,
      description: description || (editing ? '' : null),
      requirement: {
        provider_id: 'discord',
        id: pinned || null,
        oauth2: { scopes: normalizeScopes(scopes) },
      },
    };
    if (editing) {
      const r = await api.PATCH('/v1/admin/tools/{name}', { params: { path: { name: editing.name } }, body });
      if (r.data) {
        setEditing(null);
        setAdding(false);
        await load();
      } else setError(checked(props, r.response, r.error));
      return;
    }
    const r = await api.POST('/v1/admin/tools', { body: { ...body, name } });
    if (r.data) {
      setKey({ tool: r.data.tool.name, secret: r.data.key.secret });
      setAdding(false);
      setName('');
      setDescription('');
      await load();
    } else {
      setError(checked(props, r.response, r.error));
    }
  };

  const remove = async (t: Tool) => {
    if (!window.confirm(`Delete ${t.name}? Its tool keys stop working.`)) return;
    const r = await api.DELETE('/v1/admin/tools/{name}', { params: { path: { name: t.name } } });
    if (r.error) setError(checked(props, r.response, r.error));
    await load();
  };

  return (
    <>
      <ErrorMessage error={error} />
      {key && (
        <ShowOnce title={`Tool key for ${key.tool}`} secret={key.secret} onDone={() => setKey(null)} />
      )}
      {adding ? (
        <form
          className="card"
          aria-label="Register a tool"
          onSubmit={(e) => {
            e.preventDefault();
            void register();
          }}
        >
          <h2>{editing ? `Edit ${editing.name}` : 'Register a tool'}</h2>
          <label htmlFor="t-name">Name</label>
          <input
            id="t-name"
            required
            readOnly={!!editing}
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="Discord.ListServers"
          />
          <p className="hint">
            <code>Toolkit.Tool</code>. Tools declared with the Rust SDK register themselves (docs/tools.md).
          </p>
          <label htmlFor="t-version">Version</label>
          <input id="t-version" required value={version} onChange={(e) => setVersion(e.target.value)} />
          <label htmlFor="t-description">Description</label>
          <input id="t-description" value={description} onChange={(e) => setDescription(e.target.value)} />
          <label htmlFor="t-provider">Provider</label>
          <select id="t-provider" value={pinned} onChange={(e) => setPinned(e.target.value)}>
            <option value="">The tenant's Discord provider</option>
            {providers.map((p) => (
              <option key={p.id} value={p.id}>
                {p.id}
              </option>
            ))}
          </select>
          <fieldset>
            <legend>Scopes the tool needs</legend>
            <ScopePicker idPrefix="tool-scope" selected={scopes} onChange={setScopes} />
          </fieldset>
          <div className="row">
            <button type="submit">{editing ? 'Save' : 'Register'}</button>
            <button
              type="button"
              className="secondary"
              onClick={() => {
                setAdding(false);
                setEditing(null);
              }}
            >
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <button type="button" onClick={() => setAdding(true)}>
          Register a tool
        </button>
      )}
      {items && items.length === 0 && !adding && (
        <Empty title="No tools yet">
          Register the tools your agents run, with the Discord scopes each needs. Each gets its own key, and a token
          only for what it declared.
        </Empty>
      )}
      {items && items.length > 0 && (
        <table>
          <TableHead columns={['Tool', 'Version', 'Provider', 'Scopes']} actions />
          <tbody>
            {items.map((t) => (
              <tr key={t.id}>
                <NameCell name={t.name} hint={t.description} />
                <td>{t.version}</td>
                <td>{t.requirement.id ?? 'discord'}</td>
                <td>{(t.requirement.oauth2.scopes ?? []).join(' ')}</td>
                <td className="actions">
                  <button type="button" className="secondary" onClick={() => startEdit(t)}>
                    Edit
                  </button>
                  <button type="button" className="danger" onClick={() => void remove(t)}>
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
