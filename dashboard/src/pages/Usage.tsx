import { useEffect, useState } from 'react';
import { api } from '../api/client';
import type { components } from '../api/schema';
import { layout, type Series } from '../chart';
import { checked, type PageProps } from '../page';
import { ErrorMessage, TableHead } from '../ui';

type Usage = components['schemas']['UsageResponse'];

const W = 640;
const H = 180;

export function UsagePage(props: PageProps) {
  const [days, setDays] = useState(14);
  const [usage, setUsage] = useState<Usage | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    api.GET('/v1/admin/usage', { params: { query: { days } } }).then((r) => {
      if (r.data) setUsage(r.data);
      else setError(checked(props, r.response, r.error));
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [days]);

  const series: Series[] = usage
    ? [
        { key: 'started', label: 'Authorizations started', values: usage.days.map((d) => d.authorizations_started) },
        { key: 'completed', label: 'Authorizations completed', values: usage.days.map((d) => d.authorizations_completed) },
        { key: 'releases', label: 'Token releases', values: usage.days.map((d) => d.token_releases) },
      ]
    : [];
  const { bars, top } = layout(series, usage?.days.length ?? 0, W, H);
  return (
    <>
      <label htmlFor="u-days">Period</label>
      <select id="u-days" value={days} onChange={(e) => setDays(Number(e.target.value))}>
        <option value={7}>Last 7 days</option>
        <option value={14}>Last 14 days</option>
        <option value={30}>Last 30 days</option>
      </select>
      <ErrorMessage error={error} />
      {usage && (
        <figure className="chart">
          <svg viewBox={`0 0 ${W} ${H + 24}`} role="img" aria-labelledby="usage-caption">
            <line x1="0" y1={H} x2={W} y2={H} className="axis" />
            <text x="0" y="12" className="tick">
              {top}
            </text>
            {bars.map((b) => (
              <rect key={`${b.series}-${b.day}`} x={b.x} y={b.y} width={b.width} height={b.height} className={`bar-${b.series}`}>
                <title>{`${usage.days[b.day].date}: ${b.value}`}</title>
              </rect>
            ))}
            {usage.days.map((d, i) =>
              i % Math.ceil(usage.days.length / 7) === 0 ? (
                <text key={d.date} x={(i + 0.5) * (W / usage.days.length)} y={H + 18} className="tick" textAnchor="middle">
                  {d.date.slice(5)}
                </text>
              ) : null,
            )}
          </svg>
          <figcaption id="usage-caption">
            {series.map((s) => (
              <span key={s.key} className="legend">
                <span className={`swatch bar-${s.key}`} aria-hidden="true" /> {s.label}: {s.values.reduce((a, b) => a + b, 0)}
              </span>
            ))}
          </figcaption>
        </figure>
      )}
      {usage && (
        <details>
          <summary>As a table</summary>
          <table>
            <TableHead columns={['Day', 'Started', 'Completed', 'Token releases']} />
            <tbody>
              {usage.days.map((d) => (
                <tr key={d.date}>
                  <td>{d.date}</td>
                  <td>{d.authorizations_started}</td>
                  <td>{d.authorizations_completed}</td>
                  <td>{d.token_releases}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </>
  );
}
