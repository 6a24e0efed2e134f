import { act, fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { BackendContext } from '../backend/backend';
import { FakeBackend } from '../backend/fake';
import { CredentialPrompts, validMfaCode } from './CredentialPrompts';

function mount(backend: FakeBackend, errors: string[] = []) {
  return render(
    <BackendContext.Provider value={backend}>
      <CredentialPrompts onError={(m) => errors.push(m)} />
    </BackendContext.Provider>,
  );
}

describe('credential prompts', () => {
  it('checks MFA codes before answering, and answers the prompt that asked', async () => {
    const backend = new FakeBackend();
    mount(backend);
    await act(async () => {});
    act(() =>
      backend.onPrompt?.({
        id: 7,
        prompt: { kind: 'mfa-code', profile: 'admin', serial: 'arn:aws:iam::1:mfa/a' },
      }),
    );
    const input = screen.getByRole('textbox');
    fireEvent.change(input, { target: { value: '12a3' } });
    expect((input as HTMLInputElement).value).toBe('123');
    fireEvent.click(screen.getByText('Continue'));
    expect(screen.getByRole('alert').textContent).toContain('six digits');
    expect(backend.answers).toEqual([]);
    fireEvent.change(input, { target: { value: '123456' } });
    fireEvent.click(screen.getByText('Continue'));
    expect(backend.answers).toEqual([{ id: 7, answer: '123456' }]);
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  it('opens an SSO login page at once and lets the engine poll, showing the code to compare', async () => {
    const backend = new FakeBackend();
    mount(backend);
    await act(async () => {});
    act(() =>
      backend.onPrompt?.({
        id: 2,
        prompt: {
          kind: 'sso-login',
          profile: 'dev',
          startUrl: 'https://x/start',
          verificationUri: 'https://x/device?user_code=AB-CD',
          userCode: 'AB-CD',
        },
      }),
    );
    expect(backend.opened).toEqual(['https://x/device?user_code=AB-CD']);
    expect(backend.answers).toEqual([{ id: 2, answer: 'opened' }]);
    expect(screen.getByTestId('sso-user-code').textContent).toBe('AB-CD');
    fireEvent.click(screen.getByText('Open the page again'));
    expect(backend.opened).toHaveLength(2);
    fireEvent.click(screen.getByText('Close'));
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  it('shows queued MFA prompts one after another; cancelling answers null', async () => {
    const backend = new FakeBackend();
    mount(backend);
    await act(async () => {});
    act(() => {
      backend.onPrompt?.({ id: 1, prompt: { kind: 'mfa-code', profile: 'a', serial: 's' } });
      backend.onPrompt?.({ id: 3, prompt: { kind: 'mfa-code', profile: 'b', serial: 't' } });
    });
    expect(screen.getByRole('dialog').getAttribute('aria-label')).toBe('MFA code for a');
    fireEvent.click(screen.getByText('Cancel'));
    expect(screen.getByRole('dialog').getAttribute('aria-label')).toBe('MFA code for b');
    fireEvent.click(screen.getByText('Cancel'));
    expect(backend.answers).toEqual([
      { id: 1, answer: null },
      { id: 3, answer: null },
    ]);
  });

  it('knows a code from a typo', () => {
    expect(validMfaCode('012345')).toBe(true);
    expect(validMfaCode(' 012345 ')).toBe(true);
    for (const bad of ['', '12345', '1234567', 'abcdef']) expect(validMfaCode(bad)).toBe(false);
  });
});
