// What to tell the user about a refused request: Latchkey's error body has a stable `name`
// and a `message` written for people; a few names get advice on what to do next.

export interface ErrorBody {
  name: string;
  message: string;
  request_id?: string;
}

const ADVICE: Record<string, string> = {
  unauthorized: 'Sign in again.',
  forbidden: 'This needs an admin key.',
  client_id_in_use: 'This Discord application is already registered with Latchkey.',
  already_exists: 'Something with this id already exists. Pick another id.',
  scope_not_allowed: 'Discord only grants this scope to approved applications.',
  verification_not_configured: 'Set a verifier URL first.',
  rate_limited: 'Too many requests. Wait a moment and try again.',
  unavailable: 'Latchkey is unavailable right now. Try again shortly.',
  upstream_unavailable: 'Discord could not be reached. Try again shortly.',
};

function isErrorBody(e: unknown): e is ErrorBody {
  return typeof e === 'object' && e !== null && !(e instanceof Error) && typeof (e as ErrorBody).name === 'string';
}

/** One sentence (or two) for an error answer, a network failure or anything else. */
export function describeError(e: unknown): string {
  if (isErrorBody(e)) {
    const advice = ADVICE[e.name];
    const message = e.message?.trim() ?? '';
    if (advice && message && !message.toLowerCase().startsWith(advice.toLowerCase().slice(0, 20))) {
      return `${message} — ${advice}`;
    }
    return message || advice || e.name;
  }
  if (e instanceof TypeError) {
    return 'Latchkey could not be reached. Check your connection and try again.';
  }
  return 'Something went wrong.';
}

/** Which form field an error is about, when its message names one (`field: …`). */
export function errorField(e: unknown): string | null {
  if (!isErrorBody(e)) return null;
  const m = /^([a-z_][a-z0-9_.[\]]*):\s/.exec(e.message ?? '');
  return m ? m[1] : null;
}
