// The window's open tunnel tabs, as a store the window's store follows: which session each
// tab holds, and which saved profiles run now. Any phase change of any session (a tunnel
// stopped from its own tab, one that dropped) is a change of the store, so views that show a
// profile's state (Start or Running) follow it without their tab changing.

import type { TunnelSession } from './tunnelSession';

export class TunnelRegistry {
  private sessions = new Map<
    string,
    { session: TunnelSession; profileName: string | null; unsubscribe: () => void }
  >();
  private listeners = new Set<() => void>();
  private running = new Set<string>();

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

  /**
   * Names of the saved profiles whose tunnel runs now (or is starting): the store's snapshot,
   * a new set after every change and the same set until the next one, as React compares it.
   */
  runningProfiles = (): Set<string> => this.running;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  private changed() {
    const names = new Set<string>();
    for (const { session, profileName } of this.sessions.values()) {
      const phase = session.phase.phase;
      if (profileName && (phase === 'running' || phase === 'starting')) names.add(profileName);
    }
    this.running = names;
    for (const listener of this.listeners) listener();
  }
}
