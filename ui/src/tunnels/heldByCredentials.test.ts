import { describe, expect, it } from 'vitest';
import { heldByCredentials } from './TunnelView';

describe('a tunnel held by a credential prompt', () => {
  const running = { phase: 'running' as const, id: 1, localAddress: '127.0.0.1:5432' };
  it('says so while starting or while no session is live, and only while a prompt waits', () => {
    expect(heldByCredentials({ phase: 'starting' }, undefined, true)).toBe(true);
    expect(heldByCredentials(running, 0, true)).toBe(true);
    expect(heldByCredentials(running, 2, true)).toBe(false);
    expect(heldByCredentials(running, 0, false)).toBe(false);
    expect(
      heldByCredentials({ phase: 'ended', reason: 'x', byUser: true, localAddress: null }, 0, true),
    ).toBe(false);
  });
});
