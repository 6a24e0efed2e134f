// The window's open tunnel tabs, as an external store (useSyncExternalStore): which session each
// tab holds, and which saved profiles run now. Any phase change of any session (a tunnel
// stopped from its own tab, one that dropped) is a change of the store, so views that show a
// profile's state (Start or Running) follow it without their tab changing.

import { useSyncExternalStore } from 'react';
import type { TunnelSession } from './tunnelSession';

export class TunnelRegistry {
  private sessions = new Map<string, { session: TunnelSession; profileName: string | null; unsubscribe: () => void }>();
  private listeners = new Set<() => void>();
  private version = 0;

  add(key: string, session: TunnelSession, profileName: string | null): void {
    this.remove(key);
    const unsubscribe = session.subscribe(() => this.changed());
    this.sessions.set(key, { session, profileName, unsubscribe });
    this.changed();
  }

  remove(key: string): void {
    const entry = this.sessions.get(key);
    if (!entry) return;
    entry.unsubscribe();
    this.sessions.delete(key);
    this.changed();
  }

  get(key: string): TunnelSession | undefined {
    return this.sessions.get(key)?.session;
  }

  /** Names of the saved profiles whose tunnel runs now (or is starting). */
  runningProfiles(): Set<string> {
    const names = new Set<string>();
    for (const { session, profileName } of this.sessions.values()) {
      if (profileName && (session.phase.phase === 'running' || session.phase.phase === 'starting')) names.add(profileName);
    }
    return names;
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Changes with every change of the store: the snapshot React compares. */
  snapshot = (): number => this.version;

  private changed() {
    this.version += 1;
    for (const listener of this.listeners) listener();
  }
}

/** Re-renders the caller whenever any tunnel of `registry` changes. */
export function useTunnelRegistry(registry: TunnelRegistry): number {
  return useSyncExternalStore(registry.subscribe, registry.snapshot);
}
