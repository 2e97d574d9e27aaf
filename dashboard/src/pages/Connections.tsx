import { useEffect, useState } from 'react';
import { api } from '../api/client';
import type { components } from '../api/schema';
import { checked, type PageProps } from '../page';
import { Empty, ErrorMessage, Notice, when, TableHead } from '../ui';

type Connection = components['schemas']['ConnectionResponse'];

function discordName(c: Connection): string {
  const info = (c.provider_user_info ?? {}) as { username?: string; global_name?: string; id?: string };
  return info.global_name ? `${info.global_name} (@${info.username})` : (info.username ?? info.id ?? '?');
}

export function Connections(props: PageProps) {
  const [items, setItems] = useState<Connection[] | null>(null);
  const [query, setQuery] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [revoked, setRevoked] = useState<string | null>(null);

  const load = async () => {
    const r = await api.GET('/v1/admin/user_connections', { params: { query: { limit: 100 } } });
    if (r.data) setItems(r.data.items);
    else setError(checked(props, r.response, r.error));
  };
  useEffect(() => {
    void load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const revoke = async (c: Connection) => {
    if (!window.confirm(`Revoke ${c.user_id}'s Discord connection? Latchkey also revokes it at Discord.`)) return;
    const r = await api.DELETE('/v1/admin/user_connections/{id}', { params: { path: { id: c.id } } });
    if (r.error) setError(checked(props, r.response, r.error));
    else setRevoked(c.user_id);
    await load();
  };

  const q = query.trim().toLowerCase();
  const shown = (items ?? []).filter(
    (c) => !q || c.user_id.toLowerCase().includes(q) || discordName(c).toLowerCase().includes(q),
  );
  return (
    <>
      <ErrorMessage error={error} />
      {revoked && <Notice>Revoked {revoked}'s connection.</Notice>}
      <label htmlFor="c-search">Search by user id or Discord user</label>
      <input id="c-search" type="search" value={query} onChange={(e) => setQuery(e.target.value)} />
      <button type="button" className="secondary" onClick={() => void load()}>
        Refresh
      </button>
      {items && items.length === 0 && (
        <Empty title="No connections yet">
          A connection appears when one of your users completes an authorization: your app calls{' '}
          <code>auth.start</code>, the user consents at Discord and your verifier confirms them.
        </Empty>
      )}
      {items && items.length > 0 && (
        <table>
          <TableHead columns={['User', 'Discord user', 'Provider', 'Scopes', 'Status', 'Token expires']} actions />
          <tbody>
            {shown.map((c) => (
              <tr key={c.id}>
                <td>
                  <strong>{c.user_id}</strong>
                </td>
                <td>{discordName(c)}</td>
                <td>{c.provider_id}</td>
                <td>{c.scopes.join(' ')}</td>
                <td>{c.connection_status.replace(/_/g, ' ')}</td>
                <td>
                  {when(c.expires_at)}
                  <div className="hint">refreshed automatically</div>
                </td>
                <td className="actions">
                  <button type="button" className="danger" onClick={() => void revoke(c)}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {items && items.length > 0 && shown.length === 0 && <p>No connection matches “{query}”.</p>}
    </>
  );
}
