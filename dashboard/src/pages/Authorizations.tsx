import { useEffect, useState } from 'react';
import { api } from '../api/client';
import type { components } from '../api/schema';
import { checked, type PageProps } from '../page';
import { Empty, ErrorMessage, when, TableHead } from '../ui';

type Authorization = components['schemas']['AuthorizationSummary'];

/** How often the list is asked for again. */
export const POLL_MS = 2000;

export function Authorizations(props: PageProps) {
  const [items, setItems] = useState<Authorization[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    let stopped = false;
    const load = async () => {
      const r = await api.GET('/v1/admin/authorizations', { params: { query: { limit: 50 } } });
      if (stopped) return;
      if (r.data) {
        setItems(r.data.items);
        setError(null);
      } else setError(checked(props, r.response, r.error));
    };
    void load();
    const timer = window.setInterval(() => void load(), POLL_MS);
    return () => {
      stopped = true;
      window.clearInterval(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  return (
    <>
      <p className="hint" aria-live="polite">
        Live: the latest authorizations, updated every {POLL_MS / 1000} seconds.
        {items && ` ${items.filter((a) => a.status === 'pending').length} pending.`}
      </p>
      <ErrorMessage error={error} />
      {items && items.length === 0 && (
        <Empty title="No authorizations yet">
          They appear here as soon as your app calls <code>auth.start</code> (or a tool asks for a user who has not
          connected yet).
        </Empty>
      )}
      {items && items.length > 0 && (
        <table>
          <TableHead columns={['Updated', 'User', 'Provider', 'Scopes', 'Status']} />
          <tbody>
            {items.map((a) => (
              <tr key={a.id} data-status={a.status}>
                <td>{when(a.updated_at)}</td>
                <td>
                  <strong>{a.user_id}</strong>
                  <div className="hint">{a.id}</div>
                </td>
                <td>{a.provider_id || '(deleted)'}</td>
                <td>{a.scopes.join(' ')}</td>
                <td>
                  <span className={`status status-${a.status}`}>{a.status}</span>
                  {a.failure_reason && <div className="hint">{a.failure_reason.replace(/_/g, ' ')}</div>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
