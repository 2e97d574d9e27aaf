import { selectableScopes } from './scopes';

/** Checkboxes for the scopes Latchkey offers, each explained (`identify` is always on). */
export function ScopePicker({
  idPrefix,
  selected,
  onChange,
  showWarnings = false,
}: {
  idPrefix: string;
  selected: Set<string>;
  onChange: (next: Set<string>) => void;
  showWarnings?: boolean;
}) {
  return (
    <>
      {selectableScopes().map((s) => (
        <div key={s.scope} className="check">
          <input
            type="checkbox"
            id={`${idPrefix}-${s.scope}`}
            checked={s.always || selected.has(s.scope)}
            disabled={s.always}
            onChange={(e) => {
              const next = new Set(selected);
              if (e.target.checked) next.add(s.scope);
              else next.delete(s.scope);
              onChange(next);
            }}
          />
          <label htmlFor={`${idPrefix}-${s.scope}`}>
            <code>{s.scope}</code> — {s.what}
            {showWarnings && s.warning && <span className="warning"> {s.warning}</span>}
          </label>
        </div>
      ))}
    </>
  );
}
