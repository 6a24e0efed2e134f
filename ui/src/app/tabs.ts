// The open tabs: shells and tunnels, in the order opened, one of them active. A pure reducer,
// so keyboard navigation and closing rules are tested without a DOM.

import type { SessionState, ShellRequest, TunnelRequest } from '../backend/types';

export type Tab =
  | {
      kind: 'shell';
      key: string;
      title: string;
      request: ShellRequest;
      state: SessionState;
      /** When `state` began (ms), for the reconnect countdown. */ stateSince: number;
    }
  | { kind: 'tunnel'; key: string; title: string; request: TunnelRequest; profileName: string | null };

export interface TabsState {
  tabs: Tab[];
  /** The key of the active tab; null shows the node list. */
  active: string | null;
}

export type TabsAction =
  | { type: 'open'; tab: Tab }
  | { type: 'close'; key: string }
  | { type: 'activate'; key: string | null }
  | { type: 'next' }
  | { type: 'previous' }
  | { type: 'shell-state'; key: string; state: SessionState; at: number };

export const initialTabs: TabsState = { tabs: [], active: null };

export function tabsReducer(state: TabsState, action: TabsAction): TabsState {
  switch (action.type) {
    case 'open':
      return { tabs: [...state.tabs, action.tab], active: action.tab.key };
    case 'close': {
      const index = state.tabs.findIndex((t) => t.key === action.key);
      if (index < 0) return state;
      const tabs = state.tabs.filter((t) => t.key !== action.key);
      if (state.active !== action.key) return { ...state, tabs };
      // The neighbour to the right takes the focus, else the one to the left, else the list.
      const next = tabs[index] ?? tabs[index - 1] ?? null;
      return { tabs, active: next ? next.key : null };
    }
    case 'activate':
      return { ...state, active: action.key };
    case 'next':
    case 'previous': {
      // The node list counts as the first stop, so cycling reaches it too.
      const stops = [null, ...state.tabs.map((t) => t.key)];
      const at = stops.indexOf(state.active);
      const step = action.type === 'next' ? 1 : -1;
      return { ...state, active: stops[(at + step + stops.length) % stops.length] };
    }
    case 'shell-state':
      return {
        ...state,
        tabs: state.tabs.map((t) =>
          t.key === action.key && t.kind === 'shell'
            ? { ...t, state: action.state, stateSince: action.at }
            : t,
        ),
      };
  }
}

/** A short label for a shell's state, as the tab shows it. */
export function stateLabel(state: SessionState, now: number, since: number): string {
  switch (state.state) {
    case 'connecting':
      return {
        'starting-session': 'Starting session…',
        'opening-data-channel': 'Opening data channel…',
        'waiting-for-agent': 'Waiting for the agent…',
      }[state.stage];
    case 'connected':
      return state.encryptedWith ? 'Connected · encrypted with KMS' : 'Connected';
    case 'reconnecting': {
      const left = Math.max(0, Math.ceil((since + state.delayMs - now) / 1000));
      return left > 0
        ? `Reconnecting in ${left} s (attempt ${state.attempt})`
        : `Reconnecting (attempt ${state.attempt})…`;
    }
    case 'ended':
      return state.exitCode !== null ? `Ended (exit code ${state.exitCode})` : 'Ended';
  }
}
