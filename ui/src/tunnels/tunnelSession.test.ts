import { describe, expect, it } from 'vitest';
import { FakeBackend } from '../backend/fake';
import type { TunnelFigures, TunnelRequest } from '../backend/types';
import { TunnelSession } from './tunnelSession';

const request: TunnelRequest = {
  kind: 'forward',
  target: 'i-1',
  remotePort: 80,
  remoteHost: null,
  localPort: 0,
  bind: '127.0.0.1',
  sessions: 1,
  reason: null,
  document: null,
  parameters: {},
  keepAlive: false,
};
const figures = (bytesDown: number): TunnelFigures => ({
  bytesUp: 0,
  bytesDown,
  openConnections: 1,
  totalConnections: 1,
  refusedConnections: 0,
  turnedAwayConnections: 0,
  liveSessions: 1,
  rttMicros: 800,
  reconnects: 0,
});

describe('a tunnel tab', () => {
  it('runs, shows rates from the totals, and ends when stopped', async () => {
    const backend = new FakeBackend();
    let clock = 0;
    const session = new TunnelSession(backend, { kind: 'request', request }, () => clock);
    await session.start();
    expect(session.phase).toEqual({ phase: 'running', id: 1, localAddress: '127.0.0.1:40000' });
    const tunnel = backend.tunnels.get(1)!;
    tunnel.onMessage({ kind: 'figures', figures: figures(0), forwards: [] });
    clock = 1000;
    tunnel.onMessage({ kind: 'figures', figures: figures(500_000), forwards: [] });
    expect(session.history.points.at(-1)?.down).toBe(500_000);
    await session.stop();
    expect(session.phase).toEqual({
      phase: 'ended',
      reason: 'stopped',
      byUser: true,
      localAddress: '127.0.0.1:40000',
    });
  });

  it('restarts on the port it had, and ignores the old run', async () => {
    const backend = new FakeBackend();
    const session = new TunnelSession(backend, { kind: 'request', request });
    await session.start();
    const first = backend.tunnels.get(1)!;
    await session.stop();
    await session.start();
    const second = backend.tunnels.get(2)!;
    expect((second.request as TunnelRequest).localPort).toBe(40000);
    first.onMessage({ kind: 'ended', reason: 'late news from the first run', byUser: false });
    expect(session.phase.phase).toBe('running');
  });

  it("keeps each forward's figures of a profile's group, and forgets them on restart", async () => {
    const backend = new FakeBackend();
    backend.profiles = [
      {
        name: 'stack',
        awsProfile: null,
        region: null,
        target: 'i-1',
        remotePort: 80,
        remoteHost: null,
        localPort: 0,
        bind: '127.0.0.1',
        sessions: 1,
        autoStart: false,
        keepAlive: false,
        moreForwards: [{ remotePort: 5432, remoteHost: 'db', localPort: 0 }],
      },
    ];
    const session = new TunnelSession(backend, { kind: 'profile', name: 'stack' });
    await session.start();
    const forwards = [
      { localAddress: '127.0.0.1:40000', destination: 'i-1 port 80', figures: figures(10) },
      { localAddress: '127.0.0.1:40001', destination: 'db:5432 through i-1', figures: figures(20) },
    ];
    backend.tunnels.get(1)!.onMessage({ kind: 'figures', figures: figures(30), forwards });
    expect(session.forwards.map((f) => f.figures.bytesDown)).toEqual([10, 20]);
    expect(session.figures?.bytesDown).toBe(30);
    await session.stop();
    await session.start();
    expect(session.forwards).toEqual([]);
  });

  it('fails with the backend error when the port is taken', async () => {
    const backend = new FakeBackend();
    backend.takenPorts.add(8080);
    const session = new TunnelSession(backend, { kind: 'request', request: { ...request, localPort: 8080 } });
    await session.start();
    expect(session.phase.phase).toBe('failed');
    expect(session.phase.phase === 'failed' && session.phase.error.is('port-in-use')).toBe(true);
  });
});
