// The Discord scopes a provider may offer (docs/api.md#providers), explained for the picker.

export interface ScopeInfo {
  scope: string;
  what: string;
  /** Shown next to the scope when it has a catch. */
  warning?: string;
  /** `identify` is always granted. */
  always?: boolean;
}

export const SCOPES: ScopeInfo[] = [
  { scope: 'identify', what: "The user's Discord id, username and avatar.", always: true },
  { scope: 'email', what: "The user's email address (and whether Discord verified it)." },
  { scope: 'guilds', what: 'The servers the user is in.' },
  {
    scope: 'guilds.members.read',
    what: "The user's member profile (roles, nickname) in a server.",
    warning: 'Needed for guild or role policies; Latchkey adds it when a policy is set.',
  },
  { scope: 'connections', what: "The user's linked accounts (GitHub, Steam, …)." },
  {
    scope: 'guilds.join',
    what: 'Add the user to a server.',
    warning: 'Needs a bot in the server; Latchkey does not offer it yet.',
  },
  {
    scope: 'messages.read',
    what: "Read the user's messages.",
    warning: 'Discord grants this only to applications it approved.',
  },
];

/** The scopes a form may submit: the offered ones, `identify` first, each once. */
export function selectableScopes(): ScopeInfo[] {
  return SCOPES.filter((s) => !s.warning?.startsWith('Discord grants') && s.scope !== 'guilds.join');
}

/** The scopes to send for a selection (identify always included, sorted, unique). */
export function normalizeScopes(selected: Iterable<string>): string[] {
  const set = new Set(selected);
  set.add('identify');
  return [...set].sort();
}

/** A Discord application id: a snowflake (17–20 digits). */
export function isSnowflake(s: string): boolean {
  return /^[0-9]{17,20}$/.test(s);
}
