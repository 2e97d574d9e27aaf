/** What every page gets. */
export interface PageProps {
  /** Called when an answer says the session is over (401). */
  onSessionEnded: () => void;
  /** Called when the verification settings changed (whether verification is skipped). */
  onVerificationChanged: (skipped: boolean) => void;
}

/** The error of an answer, after telling the shell when the session is over. */
export function checked(props: PageProps, response: Response, error: unknown): unknown {
  if (response.status === 401) props.onSessionEnded();
  return error;
}
