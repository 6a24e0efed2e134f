import { describe, expect, it } from 'vitest';
import type { SessionState } from '../backend/types';
import { initialTabs, stateLabel, tabsReducer, type Tab, type TabsState } from './tabs';

const shell = (key: string): Tab => ({
  kind: 'shell',
  key,
  title: key,
  request: { target: 'i-1', document: null, parameters: {}, reason: null },
  state: { state: 'connecting', stage: 'starting-session' },
  stateSince: 0,
});
const open = (state: TabsState, key: string) => tabsReducer(state, { type: 'open', tab: shell(key) });

describe('tabs', () => {
  it('activate what is opened, and the right-hand neighbour when the active one closes', () => {
    let state = open(open(open(initialTabs, 'a'), 'b'), 'c');
    expect(state.active).toBe('c');
    state = tabsReducer(state, { type: 'activate', key: 'b' });
    state = tabsReducer(state, { type: 'close', key: 'b' });
    expect(state.tabs.map((t) => t.key)).toEqual(['a', 'c']);
    expect(state.active).toBe('c');
    state = tabsReducer(state, { type: 'close', key: 'c' });
    expect(state.active).toBe('a');
    state = tabsReducer(state, { type: 'close', key: 'a' });
    expect(state).toEqual({ tabs: [], active: null });
  });

  it('closing an inactive tab keeps the focus where it is', () => {
    let state = open(open(initialTabs, 'a'), 'b');
    state = tabsReducer(state, { type: 'close', key: 'a' });
    expect(state.active).toBe('b');
  });

  it('cycle through the node list and every tab, both ways', () => {
    let state = open(open(initialTabs, 'a'), 'b');
    const order: Array<string | null> = [];
    for (let i = 0; i < 3; i += 1) {
      state = tabsReducer(state, { type: 'next' });
      order.push(state.active);
    }
    expect(order).toEqual([null, 'a', 'b']);
    state = tabsReducer(state, { type: 'previous' });
    expect(state.active).toBe('a');
  });

  it('track each shell state', () => {
    const connected: SessionState = {
      state: 'connected',
      sessionId: 's-1',
      encryptedWith: null,
      message: null,
    };
    const state = tabsReducer(open(initialTabs, 'a'), {
      type: 'shell-state',
      key: 'a',
      state: connected,
      at: 1234,
    });
    expect(state.tabs[0].kind === 'shell' && state.tabs[0].state).toEqual(connected);
    expect(
      state.tabs[0].kind === 'shell' && state.tabs[0].stateSince,
      'when it began, for the countdown',
    ).toBe(1234);
  });

  it('label states with a countdown while reconnecting', () => {
    const reconnecting: SessionState = { state: 'reconnecting', attempt: 2, delayMs: 4000, reason: 'reset' };
    expect(stateLabel(reconnecting, 1000, 0)).toBe('Reconnecting in 3 s (attempt 2)');
    expect(stateLabel(reconnecting, 5000, 0)).toBe('Reconnecting (attempt 2)…');
    expect(stateLabel({ state: 'ended', reason: 'x', exitCode: 3, byUser: false, failed: false }, 0, 0)).toBe(
      'Ended (exit code 3)',
    );
    expect(stateLabel({ state: 'connecting', stage: 'opening-data-channel' }, 0, 0)).toBe(
      'Opening data channel…',
    );
  });
});
