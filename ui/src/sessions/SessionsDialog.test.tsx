import { act, fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { BackendContext } from '../backend/backend';
import { FakeBackend } from '../backend/fake';
import type { ManagedNode, SessionRow } from '../backend/types';
import { SessionsDialog } from './SessionsDialog';

function row(id: string, status: string, reason: string | null = null): SessionRow {
  return {
    id,
    target: 'i-0abc',
    owner: 'arn:aws:iam::123456789012:user/alice',
    status,
    document: null,
    reason,
    started: '2026-12-02T07:00:00Z',
    ended: status === 'Terminated' ? '2026-12-02T07:30:00Z' : null,
  };
}

const web = { id: 'i-0abc', name: 'web-1' } as ManagedNode;

describe('the sessions view', () => {
  it('lists active sessions with target, owner and reason, and terminates one only after asking', async () => {
    const backend = new FakeBackend();
    backend.sessions = [row('alice-1', 'Connected', 'INC-42'), row('alice-0', 'Terminated')];
    const onClose = vi.fn();
    render(
      <BackendContext.Provider value={backend}>
        <SessionsDialog nodes={[web]} onClose={onClose} />
      </BackendContext.Provider>,
    );
    await act(async () => {});
    const active = document.querySelector('[data-session="alice-1"]');
    expect(active?.textContent).toContain('web-1 (i-0abc)');
    expect(active?.textContent, 'the owner by name').toContain('alice');
    expect(active?.textContent).toContain('INC-42');
    expect(document.querySelector('[data-session="alice-0"]'), 'history is apart').toBeNull();

    fireEvent.click(screen.getByText('Terminate…'));
    expect(backend.sessions[0].status, 'nothing ends before the answer').toBe('Connected');
    fireEvent.click(screen.getByText('Keep'));
    expect(backend.sessions[0].status).toBe('Connected');

    fireEvent.click(screen.getByText('Terminate…'));
    fireEvent.click(screen.getByText('Terminate'));
    await act(async () => {});
    expect(backend.sessions[0].status).toBe('Terminated');
    expect(screen.getByRole('status').textContent).toBe('No active sessions in this place.');
    // The Terminate button is gone with its row, and the focus with it: Escape still closes.
    fireEvent.keyDown(document.body, { key: 'Escape' });
    expect(onClose).toHaveBeenCalledTimes(1);

    fireEvent.click(screen.getByRole('tab', { name: 'History' }));
    await act(async () => {});
    expect(document.querySelectorAll('[data-session]')).toHaveLength(2);
    expect(screen.queryByText('Terminate…'), 'an ended session cannot be terminated').toBeNull();
  });

  it('says what went wrong when the list cannot be had', async () => {
    const backend = new FakeBackend();
    backend.listSessions = async () => {
      throw new Error('ssm:DescribeSessions is not allowed');
    };
    render(
      <BackendContext.Provider value={backend}>
        <SessionsDialog nodes={[]} onClose={() => undefined} />
      </BackendContext.Provider>,
    );
    await act(async () => {});
    expect(screen.getByRole('alert').textContent).toContain('DescribeSessions');
  });
});
