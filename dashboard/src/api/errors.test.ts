import { describe, expect, it } from 'vitest';
import { describeError, errorField } from './errors';

describe('describeError', () => {
  it("shows the server's message with advice for known names", () => {
    expect(describeError({ name: 'client_id_in_use', message: 'oauth2.client_id: already registered', request_id: 'r' })).toBe(
      'oauth2.client_id: already registered — This Discord application is already registered with Latchkey.',
    );
  });
  it('falls back to the advice, then the name', () => {
    expect(describeError({ name: 'unauthorized', message: '' })).toBe('Sign in again.');
    expect(describeError({ name: 'something_new', message: '' })).toBe('something_new');
  });
  it('explains network failures and anything else', () => {
    expect(describeError(new TypeError('Failed to fetch'))).toMatch(/could not be reached/);
    expect(describeError(42)).toBe('Something went wrong.');
  });
});

describe('errorField', () => {
  it('finds the field a message names', () => {
    expect(errorField({ name: 'invalid_request', message: 'verifier_url: must be https' })).toBe('verifier_url');
    expect(errorField({ name: 'invalid_request', message: 'the body is not JSON' })).toBeNull();
    expect(errorField(null)).toBeNull();
  });
});
