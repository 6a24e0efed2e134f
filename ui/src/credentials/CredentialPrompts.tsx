// Credential prompts from the engine, one at a time in arrival order: an MFA code (six digits,
// checked before it is sent) or an IAM Identity Center login, whose page opens in the browser
// at once while the engine polls for the approval; the dialog shows the code to compare.
// Open shells and tunnels keep running while a prompt waits.

import { useEffect, useState } from 'react';
import { useBackend } from '../backend/backend';
import { UserError } from '../backend/errors';
import type { PromptEvent } from '../backend/types';
import { Dialog, Field } from '../app/Dialog';

/** Whether an MFA code is well-formed: six digits. */
export function validMfaCode(code: string): boolean {
  return /^\d{6}$/.test(code.trim());
}

export function CredentialPrompts({
  onError,
  onWaiting,
}: {
  onError: (message: string) => void;
  onWaiting?: (waiting: boolean) => void;
}) {
  const backend = useBackend();
  const [queue, setQueue] = useState<PromptEvent[]>([]);
  const [code, setCode] = useState('');
  const [touched, setTouched] = useState(false);
  /** SSO logins under way: their page is open and the engine is polling. */
  const [logins, setLogins] = useState<PromptEvent[]>([]);

  useEffect(() => {
    backend
      .watchPrompts((event) => {
        if (event.prompt.kind === 'sso-login') {
          // As the AWS CLI does: open the page and let the engine poll straight away.
          backend.openUrl(event.prompt.verificationUri).catch((e) => onError(UserError.from(e).message));
          backend.answerPrompt(event.id, 'opened').catch((e) => onError(UserError.from(e).message));
          setLogins((l) => [...l, event]);
        } else {
          setQueue((q) => [...q, event]);
        }
      })
      .catch((e) => onError(UserError.from(e).message));
  }, [backend, onError]);

  useEffect(() => onWaiting?.(queue.length + logins.length > 0), [queue.length, logins.length, onWaiting]);

  const login = logins[0];
  if (login && login.prompt.kind === 'sso-login') {
    const { profile, verificationUri, userCode, startUrl } = login.prompt;
    return (
      <Dialog
        title={`Sign in to IAM Identity Center (${profile})`}
        onClose={() => setLogins((l) => l.slice(1))}
      >
        <p>
          Your browser shows the sign-in page of <code>{startUrl}</code>. Check that it shows this code, then
          approve:
        </p>
        <p className="user-code" data-testid="sso-user-code">
          {userCode}
        </p>
        <p className="hint">Airlock continues on its own once you have approved. You can close this note.</p>
        <footer>
          <button
            type="button"
            onClick={() => backend.openUrl(verificationUri).catch((e) => onError(UserError.from(e).message))}
          >
            Open the page again
          </button>
          <button type="button" className="primary" onClick={() => setLogins((l) => l.slice(1))}>
            Close
          </button>
        </footer>
      </Dialog>
    );
  }

  const current = queue[0];
  if (!current) return null;

  const answer = (value: string | null) => {
    setQueue((q) => q.slice(1));
    setCode('');
    setTouched(false);
    backend.answerPrompt(current.id, value).catch((e) => onError(UserError.from(e).message));
  };

  if (current.prompt.kind === 'mfa-code') {
    const { profile, serial } = current.prompt;
    const error = touched && !validMfaCode(code) ? 'Enter the six digits your MFA device shows.' : undefined;
    return (
      <Dialog title={`MFA code for ${profile}`} onClose={() => answer(null)}>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            setTouched(true);
            if (validMfaCode(code)) answer(code.trim());
          }}
        >
          <p>
            The profile <b>{profile}</b> needs a code from the MFA device <code>{serial}</code>. Open shells
            and tunnels keep running meanwhile.
          </p>
          <Field label="Code" error={error}>
            <input
              name="mfa-code"
              inputMode="numeric"
              autoComplete="one-time-code"
              maxLength={6}
              value={code}
              onChange={(e) => setCode(e.target.value.replace(/\D/g, ''))}
            />
          </Field>
          <footer>
            <button type="button" onClick={() => answer(null)}>
              Cancel
            </button>
            <button type="submit" className="primary">
              Continue
            </button>
          </footer>
        </form>
      </Dialog>
    );
  }

  return null;
}
