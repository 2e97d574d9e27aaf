import { describe, expect, it } from 'vitest';
import { isSnowflake, normalizeScopes, SCOPES, selectableScopes } from './scopes';

describe('scopes', () => {
  it('always include identify, sorted and unique', () => {
    expect(normalizeScopes(['guilds', 'email', 'guilds'])).toEqual(['email', 'guilds', 'identify']);
    expect(normalizeScopes([])).toEqual(['identify']);
  });
  it('offer only what Latchkey can grant, and explain every scope', () => {
    const offered = selectableScopes().map((s) => s.scope);
    expect(offered).toEqual(['identify', 'email', 'guilds', 'guilds.members.read', 'connections']);
    for (const s of SCOPES) expect(s.what.length).toBeGreaterThan(10);
    expect(SCOPES.find((s) => s.scope === 'guilds.join')?.warning).toMatch(/bot/);
  });
  it('recognise Discord application ids', () => {
    expect(isSnowflake('1100000000000000001')).toBe(true);
    expect(isSnowflake('123')).toBe(false);
    expect(isSnowflake('11000000000000000x1')).toBe(false);
  });
});
