import { describe, expect, it, vi } from 'vitest';
import { FakeBackend } from '../backend/fake';
import { LIMITS } from '../backend/generated';
import type { ManagedNode, TunnelProfile } from '../backend/types';
import { NOTICE_MS, WindowStore } from './windowStore';

const node: ManagedNode = {
  id: 'i-0abc',
  name: 'web-1',
  platformType: 'Linux',
  platformName: 'Ubuntu',
  pingStatus: 'Online',
  agentVersion: '3.3.1000.0',
  ipAddress: '10.0.0.5',
  state: 'running',
  tags: { Name: 'web-1' },
};

function profile(name: string, autoStart = false): TunnelProfile {
  return {
    name,
    awsProfile: null,
    region: null,
    target: 'web-1',
    remotePort: 5432,
    remoteHost: null,
    localPort: 0,
    bind: '127.0.0.1',
    sessions: 1,
    autoStart,
    keepAlive: false,
    moreForwards: [],
  };
}

/** Timers the test fires by hand. */
function manualTimers() {
  const due: Array<{ at: number; run: () => void }> = [];
  return {
    setTimeout: (run: () => void, ms: number) => due.push({ at: ms, run }),
    fire: (elapsed: number) => due.filter((t) => t.at <= elapsed).forEach((t) => t.run()),
  };
}

describe('the window store', () => {
  it('loads the place, its nodes, who that is, the profiles and the settings, and starts auto-start profiles once', async () => {
    const backend = new FakeBackend();
    backend.nodes = [node];
    backend.profiles = [profile('db', true), profile('cache')];
    const store = new WindowStore(backend);
    let changes = 0;
    store.subscribe(() => changes++);

    await store.start();
    await store.start(); // a second mount (React's strict mode) starts nothing twice

    const state = store.snapshot();
    expect(state.context?.place.demo).toBe(true);
    expect(state.nodes).toEqual([node]);
    expect(state.identity).not.toBeNull();
    expect(state.profiles.map((p) => p.name)).toEqual(['db', 'cache']);
    expect(state.settings).toEqual(backend.settings);
    expect(state.runningProfiles).toEqual(new Set(['db']));
    expect([...backend.tunnels.values()].map((t) => t.request)).toEqual(['db']);
    expect(state.tabs.tabs.map((t) => t.title)).toEqual(['db']);
    expect(changes).toBeGreaterThan(0);
  });

  it('shows Start again for a profile stopped from its own tab, and while the tab stays open', async () => {
    const backend = new FakeBackend();
    backend.profiles = [profile('db')];
    const store = new WindowStore(backend);
    await store.start();

    await store.startProfile(profile('db'));
    const key = store.snapshot().tabs.active as string;
    expect(store.snapshot().runningProfiles).toEqual(new Set(['db']));

    await store.tunnels.get(key)?.stop(); // the tab's Stop button
    expect(store.snapshot().runningProfiles, 'Start is offered again').toEqual(new Set());
    expect(
      store.snapshot().tabs.tabs.map((t) => t.key),
      'the tab stays',
    ).toEqual([key]);

    await store.tunnels.get(key)?.start(); // Restart from the tab
    expect(store.snapshot().runningProfiles).toEqual(new Set(['db']));
    store.closeTab(key);
    expect(store.snapshot().runningProfiles).toEqual(new Set());
    expect(
      [...backend.tunnels.values()].every((t) => t.stopped),
      'closing stops it',
    ).toBe(true);
  });

  it('says why a profile did not start, in a notice that goes by itself', async () => {
    const backend = new FakeBackend();
    const timers = manualTimers();
    const store = new WindowStore(backend, timers);
    await store.startProfile(profile('gone'));
    expect(store.snapshot().notices.map((n) => n.text)).toEqual(['gone: no profile named "gone"']);
    expect(store.snapshot().tabs.tabs).toEqual([]);
    timers.fire(NOTICE_MS - 1);
    expect(store.snapshot().notices).toHaveLength(1);
    timers.fire(NOTICE_MS);
    expect(store.snapshot().notices).toEqual([]);
  });

  it('zooms within the engine limits and saves the size', async () => {
    const backend = new FakeBackend();
    backend.settings = { theme: 'dark', fontSize: LIMITS.fontMax - 1 };
    const store = new WindowStore(backend);
    await store.start();
    store.zoom(1);
    store.zoom(1);
    expect(store.snapshot().settings.fontSize).toBe(LIMITS.fontMax);
    expect(backend.settings.fontSize, 'saved').toBe(LIMITS.fontMax);
    store.zoom(null);
    expect(store.snapshot().settings.fontSize).toBe(LIMITS.fontDefault);
    for (let i = 0; i < 100; i++) store.zoom(-1);
    expect(store.snapshot().settings.fontSize).toBe(LIMITS.fontMin);
  });

  it('reloads the nodes and the identity when the place changes, and keeps the tabs', async () => {
    const backend = new FakeBackend();
    const store = new WindowStore(backend);
    await store.start();
    const shell = store.openShell(node);
    backend.nodes = [node];
    await store.choosePlace({ demo: false, profile: 'dev', region: 'eu-west-1' });
    const state = store.snapshot();
    expect(state.context?.place).toEqual({ demo: false, profile: 'dev', region: 'eu-west-1' });
    expect(state.nodes).toEqual([node]);
    expect(state.placeBusy).toBe(false);
    expect(state.tabs.tabs.map((t) => t.key)).toEqual([shell]);
  });

  it('names a shell tab after its node and document, and follows its state', () => {
    const store = new WindowStore(new FakeBackend());
    const plain = store.openShell(node);
    const custom = store.openShell(node, { document: 'AWS-StartInteractiveCommand' });
    store.shellState(plain, { state: 'connected', sessionId: 's-1', encryptedWith: null, message: null });
    const [first, second] = store.snapshot().tabs.tabs;
    expect(first.title).toBe('web-1');
    expect(second.title).toBe('web-1 · AWS-StartInteractiveCommand');
    expect(first.kind === 'shell' && first.state.state).toBe('connected');
    expect(store.snapshot().tabs.active).toBe(custom);
  });

  it('asks in a dialog when the desktop closes the window with tunnels running, and passes the answer on', async () => {
    const backend = new FakeBackend();
    const store = new WindowStore(backend);
    await store.start();
    backend.onDesktop?.({ kind: 'closeRequested', tunnels: 2, tray: true });
    expect(store.snapshot().dialog).toEqual({ kind: 'close', tunnels: 2, tray: true });
    await store.closeWindow(true, true);
    expect(backend.closes).toEqual([{ keepRunning: true, remember: true }]);
    expect(store.snapshot().dialog).toBeNull();
  });

  it('offers to send a file dropped on a connected shell tab to its node, and says where to drop one otherwise', async () => {
    const backend = new FakeBackend();
    const store = new WindowStore(backend);
    await store.start();
    backend.onDesktop?.({ kind: 'filesDropped', paths: ['/home/me/notes.txt'] });
    expect(store.snapshot().dialog).toBeNull();
    expect(store.snapshot().notices.map((n) => n.text)).toEqual([
      'Drop a file on a connected shell tab to send it to that node.',
    ]);
    const tab = store.openShell(node);
    backend.onDesktop?.({ kind: 'filesDropped', paths: ['/home/me/a.bin'] });
    expect(store.snapshot().dialog, 'not before the session is connected').toBeNull();
    store.shellState(tab, { state: 'connected', sessionId: 's-1', encryptedWith: null, message: null });
    backend.onDesktop?.({ kind: 'filesDropped', paths: ['/home/me/a.bin', '/home/me/b.bin'] });
    expect(store.snapshot().dialog).toEqual({
      kind: 'copy',
      direction: 'upload',
      target: node.id,
      title: 'web-1',
      local: '/home/me/a.bin',
    });
    expect(store.snapshot().notices.at(-1)?.text).toBe('One file at a time: sending /home/me/a.bin first.');
  });

  it('starts a profile chosen in the tray once, in a tab, and says so when it is gone', async () => {
    const backend = new FakeBackend();
    const store = new WindowStore(backend);
    await store.start();
    backend.profiles = [profile('db')];
    backend.onDesktop?.({ kind: 'startProfile', name: 'db' });
    await waitFor(() => store.snapshot().runningProfiles.has('db'));
    expect(store.snapshot().tabs.tabs.map((t) => t.title)).toEqual(['db']);
    backend.onDesktop?.({ kind: 'startProfile', name: 'db' });
    backend.onDesktop?.({ kind: 'startProfile', name: 'gone' });
    await waitFor(() => store.snapshot().notices.length > 0);
    expect(store.snapshot().notices[0].text).toMatch(/gone: no saved profile/);
    expect(store.snapshot().tabs.tabs, 'a running profile is not started twice').toHaveLength(1);
  });
});

/** Lets the store's promises settle until `condition` holds. */
async function waitFor(condition: () => boolean) {
  await vi.waitFor(() => expect(condition()).toBe(true));
}
