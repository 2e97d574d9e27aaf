import { useEffect, useState } from 'react';
import { api } from '../api/client';
import type { components } from '../api/schema';
import { checked, type PageProps } from '../page';
import { Empty, ErrorMessage, when, TableHead } from '../ui';

type Event = components['schemas']['AuditEventResponse'];

/** `datetime-local` value → RFC 3339 (UTC), or undefined. */
export function toRfc3339(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function Audit(props: PageProps) {
  const [items, setItems] = useState<Event[] | null>(null);
  const [action, setAction] = useState('');
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const [error, setError] = useState<unknown>(null);

  const load = async () => {
    setError(null);
    const r = await api.GET('/v1/admin/audit_events', {
      params: {
        query: { action: action || undefined, since: toRfc3339(since), until: toRfc3339(until), limit: 100 },
      },
    });
    if (r.data) setItems(r.data.items);
    else setError(checked(props, r.response, r.error));
  };
  useEffect(() => {
    void load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  return (
    <>
      <form
        className="filters"
        aria-label="Filter the audit log"
        onSubmit={(e) => {
          e.preventDefault();
          void load();
        }}
      >
        <label htmlFor="a-action">Action</label>
        <input id="a-action" value={action} onChange={(e) => setAction(e.target.value)} placeholder="provider.create" />
        <label htmlFor="a-since">Since</label>
        <input id="a-since" type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)} />
        <label htmlFor="a-until">Until</label>
        <input id="a-until" type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} />
        <button type="submit">Filter</button>
      </form>
      <ErrorMessage error={error} />
      {items && items.length === 0 && <Empty title="Nothing here">No event matches these filters.</Empty>}
      {items && items.length > 0 && (
        <table>
          <TableHead columns={['When', 'Action', 'Target', 'Actor', 'Outcome']} />
          <tbody>
            {items.map((e) => (
              <tr key={e.id}>
                <td>{when(e.at)}</td>
                <td>
                  <code>{e.action}</code>
                </td>
                <td>{e.target ?? '—'}</td>
                <td className="hint">{e.actor}</td>
                <td>{e.outcome}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
