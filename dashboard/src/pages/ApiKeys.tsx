import { useEffect, useState } from 'react';
import { api } from '../api/client';
import type { components } from '../api/schema';
import { checked, type PageProps } from '../page';
import { NameCell, ErrorMessage, ShowOnce, when, TableHead } from '../ui';

type Key = components['schemas']['ApiKeyResponse'];

export function ApiKeys(props: PageProps) {
  const [items, setItems] = useState<Key[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [name, setName] = useState('');
  const [role, setRole] = useState('app');
  const [created, setCreated] = useState<string | null>(null);

  const load = async () => {
    const r = await api.GET('/v1/admin/api_keys');
    if (r.data) setItems(r.data.items);
    else setError(checked(props, r.response, r.error));
  };
  useEffect(() => {
    void load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const create = async () => {
    setError(null);
    const r = await api.POST('/v1/admin/api_keys', { body: { name, role } });
    if (r.data) {
      setCreated(r.data.secret);
      setName('');
      await load();
    } else setError(checked(props, r.response, r.error));
  };
  const revoke = async (k: Key) => {
    if (!window.confirm(`Revoke ${k.name}? Everything using it stops working within seconds.`)) return;
    const r = await api.DELETE('/v1/admin/api_keys/{id}', { params: { path: { id: k.id } } });
    if (r.error) setError(checked(props, r.response, r.error));
    await load();
  };

  return (
    <>
      <ErrorMessage error={error} />
      {created && <ShowOnce title="New API key" secret={created} onDone={() => setCreated(null)} />}
      <form
        className="card"
        aria-label="Create an API key"
        onSubmit={(e) => {
          e.preventDefault();
          void create();
        }}
      >
        <label htmlFor="k-name">Name</label>
        <input id="k-name" required value={name} onChange={(e) => setName(e.target.value)} placeholder="production app" />
        <label htmlFor="k-role">Role</label>
        <select id="k-role" value={role} onChange={(e) => setRole(e.target.value)}>
          <option value="app">app — starts authorizations, confirms users</option>
          <option value="admin">admin — manages this tenant (and signs in here)</option>
        </select>
        <button type="submit">Create key</button>
      </form>
      {items && (
        <table>
          <TableHead columns={['Name', 'Role', 'Created', 'Last used']} actions />
          <tbody>
            {items.map((k) => (
              <tr key={k.id}>
                <NameCell name={k.name} hint={k.id} />
                <td>{k.role}</td>
                <td>{when(k.created_at)}</td>
                <td>{when(k.last_used_at)}</td>
                <td className="actions">
                  {k.revoked_at ? (
                    <span>revoked {when(k.revoked_at)}</span>
                  ) : (
                    <button type="button" className="danger" onClick={() => void revoke(k)}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
