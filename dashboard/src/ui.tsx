// Small shared pieces: status messages, empty states, a copy button, a once-only secret.
import { useState, type ReactNode } from 'react';
import { describeError } from './api/errors';

export function ErrorMessage({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {describeError(error)}
    </p>
  );
}

export function Notice({ children }: { children: ReactNode }) {
  return (
    <p className="notice" role="status">
      {children}
    </p>
  );
}

export function Empty({ title, children }: { title: string; children: ReactNode }) {
  return (
    <div className="empty">
      <h3>{title}</h3>
      <p>{children}</p>
    </div>
  );
}

export function CopyButton({ value, label = 'Copy' }: { value: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="secondary"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(value);
          setCopied(true);
        } catch {
          setCopied(false);
        }
      }}
    >
      {copied ? 'Copied' : label}
    </button>
  );
}

/** A secret shown once, right after it was created. */
export function ShowOnce({ title, secret, onDone }: { title: string; secret: string; onDone: () => void }) {
  return (
    <section className="once" aria-labelledby="once-title">
      <h3 id="once-title">{title}</h3>
      <p>Copy it now: it is shown only this once and cannot be recovered.</p>
      <code className="secret" data-testid="secret">
        {secret}
      </code>
      <div className="row">
        <CopyButton value={secret} />
        <button type="button" onClick={onDone}>
          I have stored it
        </button>
      </div>
    </section>
  );
}

export function when(iso?: string | null): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** A table's header row: the column names, and an action column announced but not shown. */
export function TableHead({ columns, actions = false }: { columns: string[]; actions?: boolean }) {
  return (
    <thead>
      <tr>
        {columns.map((c) => (
          <th key={c} scope="col">
            {c}
          </th>
        ))}
        {actions && (
          <th scope="col">
            <span className="sr-only">Actions</span>
          </th>
        )}
      </tr>
    </thead>
  );
}

/** A table cell with a name in bold and an optional hint under it. */
export function NameCell({ name, hint }: { name: string; hint?: string | null }) {
  return (
    <td>
      <strong>{name}</strong>
      {hint && <div className="hint">{hint}</div>}
    </td>
  );
}
