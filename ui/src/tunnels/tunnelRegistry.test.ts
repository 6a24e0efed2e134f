import { describe, expect, it, vi } from 'vitest';
import { FakeBackend } from '../backend/fake';
import { TunnelRegistry } from './tunnelRegistry';
import { TunnelSession } from './tunnelSession';

describe('the open tunnels', () => {
  it('stop counting a profile as running when its tunnel is stopped from its own tab', async () => {
    const backend = new FakeBackend();
    backend.profiles = [
      {
        name: 'db',
        awsProfile: null,
        region: null,
        target: 'i-1',
        remotePort: 5432,
        remoteHost: null,
        localPort: 0,
        bind: '127.0.0.1',
        sessions: 1,
        autoStart: false,
        keepAlive: false,
        moreForwards: [],
      },
    ];
    const registry = new TunnelRegistry();
    const session = new TunnelSession(backend, { kind: 'profile', name: 'db' });
    await session.start();
    registry.add('tunnel-1', session, 'db');
    expect(registry.runningProfiles()).toEqual(new Set(['db']));

    const changed = vi.fn();
    registry.subscribe(changed);
    const before = registry.runningProfiles();
    await session.stop(); // the tab's Stop button: the tab stays open
    expect(session.phase.phase).toBe('ended');
    expect(changed).toHaveBeenCalled();
    expect(registry.runningProfiles(), 'a new snapshot').not.toBe(before);
    expect(registry.runningProfiles(), 'Start is offered again').toEqual(new Set());

    // Restarted from the tab, it counts again; closing the tab forgets it.
    await session.start();
    expect(registry.runningProfiles()).toEqual(new Set(['db']));
    registry.remove('tunnel-1');
    expect(registry.runningProfiles()).toEqual(new Set());
  });
});
