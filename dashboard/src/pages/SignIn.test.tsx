import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { SignIn } from './SignIn';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function answer(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

describe('SignIn', () => {
  it("shows the server's refusal and keeps the form", async () => {
    vi.stubGlobal('fetch', vi.fn(async () => answer(403, { name: 'forbidden', message: 'the dashboard needs an admin key' })));
    const onSignedIn = vi.fn();
    render(<SignIn onSignedIn={onSignedIn} />);
    fireEvent.change(screen.getByLabelText('Admin key'), { target: { value: 'lk_app_key' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveProperty('textContent', 'the dashboard needs an admin key — This needs an admin key.');
    expect(onSignedIn).not.toHaveBeenCalled();
  });

  it('sends the key once and forgets it', async () => {
    const session = { tenant_id: 't', tenant_name: 'Acme', key_id: 'k', csrf_token: 'c', expires_at: 'x' };
    const fetch = vi.fn(async (_req: Request) => answer(201, session));
    vi.stubGlobal('fetch', fetch);
    const onSignedIn = vi.fn();
    render(<SignIn onSignedIn={onSignedIn} />);
    fireEvent.change(screen.getByLabelText('Admin key'), { target: { value: '  lk_admin  ' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await waitFor(() => expect(onSignedIn).toHaveBeenCalledWith(session));
    const req = fetch.mock.calls[0][0] as Request;
    expect(req.method).toBe('POST');
    expect(new URL(req.url).pathname).toBe('/v1/dashboard/session');
    expect(await req.json()).toEqual({ api_key: 'lk_admin' });
    expect((screen.getByLabelText('Admin key') as HTMLInputElement).value).toBe('');
    expect(window.localStorage.length + window.sessionStorage.length).toBe(0);
  });
});
