// The window's state in one place: where the app looks, who that is, the node list, the saved
// profiles and which of them run, the settings, the tabs, the open dialog and the notices. An
// external store (React reads it with useSyncExternalStore): every change makes a new
// snapshot, and the actions are plain methods, so they are tested without a DOM.
//
// Shells keep their state in the tab list (the tabs reducer); tunnels in their TunnelSession,
// which the store's registry follows, so a tunnel stopped from its own tab, or one that
// dropped, changes the store too.

import { useSyncExternalStore } from 'react';
import type { Backend } from '../backend/backend';
import { UserError } from '../backend/errors';
import { LIMITS } from '../backend/generated';
import type {
  Context,
  CopyDirection,
  DesktopEvent,
  Identity,
  ManagedNode,
  SessionState,
  Settings,
  ShellRequest,
  TunnelProfile,
  TunnelRequest,
} from '../backend/types';
import { TunnelRegistry } from '../tunnels/tunnelRegistry';
import { TunnelSession } from '../tunnels/tunnelSession';
import { initialTabs, tabsReducer, type TabsAction, type TabsState } from './tabs';

export type DialogState =
  | null
  | { kind: 'start-session'; node: ManagedNode }
  | { kind: 'tunnel'; target: string | null }
  | { kind: 'profile'; original: TunnelProfile | null; template: TunnelProfile | null }
  | { kind: 'help' }
  | { kind: 'about' }
  | { kind: 'doctor'; target: string | null }
  | { kind: 'sessions' }
  | { kind: 'rdp'; node: ManagedNode }
  | { kind: 'close'; tunnels: number; tray: boolean }
  | {
      kind: 'copy';
      direction: CopyDirection;
      /** The node (its id) and what the tab calls it. */
      target: string;
      title: string;
      /** A file dropped on the tab: the path to send. */
      local: string | null;
    };

export interface Notice {
  id: number;
  text: string;
}

export interface WindowState {
  context: Context | null;
  /** Why the app could not start at all. */
  fatal: string | null;
  placeBusy: boolean;
  identity: Identity | null;
  identityError: string | null;
  nodes: ManagedNode[];
  nodesLoading: boolean;
  nodesError: string | null;
  nodeNotices: string[];
  selected: string | null;
  profiles: TunnelProfile[];
  /** Saved profiles whose tunnel runs now (or is starting). */
  runningProfiles: Set<string>;
  settings: Settings;
  tabs: TabsState;
  dialog: DialogState;
  notices: Notice[];
  /** A credential prompt is open: sessions wait for it. */
  waitingForCredentials: boolean;
}

/** How long a notice stays before it goes by itself. */
export const NOTICE_MS = 8000;

export class WindowStore {
  readonly tunnels = new TunnelRegistry();
  private state: WindowState = {
    context: null,
    fatal: null,
    placeBusy: false,
    identity: null,
    identityError: null,
    nodes: [],
    nodesLoading: false,
    nodesError: null,
    nodeNotices: [],
    selected: null,
    profiles: [],
    runningProfiles: new Set(),
    settings: { theme: 'system', fontSize: LIMITS.fontDefault },
    tabs: initialTabs,
    dialog: null,
    notices: [],
    waitingForCredentials: false,
  };
  private listeners = new Set<() => void>();
  private nextKey = 1;
  private nextNotice = 1;
  private started = false;
  private autoStarted = false;

  constructor(
    private readonly backend: Backend,
    private readonly timers: { setTimeout: (f: () => void, ms: number) => unknown } = globalThis,
  ) {
    this.tunnels.subscribe(() => this.set({ runningProfiles: this.tunnels.runningProfiles() }));
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  snapshot = (): WindowState => this.state;

  private set(change: Partial<WindowState>) {
    this.state = { ...this.state, ...change };
    for (const listener of this.listeners) listener();
  }

  /** Loads everything the window shows first; profiles marked auto-start run once, after. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const settings = this.backend.loadSettings().then(
      (settings) => this.set({ settings }),
      (e) => this.notify(UserError.from(e).message),
    );
    const profiles = this.loadProfiles();
    this.backend.watchDesktop(this.desktop).catch((e) => this.notify(UserError.from(e).message));
    let context: Context;
    try {
      context = await this.backend.context();
    } catch (e) {
      this.set({ fatal: UserError.from(e).message });
      return;
    }
    await Promise.all([settings, profiles, this.arrived(context)]);
    await this.autoStart();
  }

  /** What the desktop asks: a close while tunnels run is asked in a dialog; a profile started
   *  from the tray starts as its Start button would. */
  private desktop = (event: DesktopEvent): void => {
    if (event.kind === 'closeRequested') {
      this.set({ dialog: { kind: 'close', tunnels: event.tunnels, tray: event.tray } });
    } else if (event.kind === 'filesDropped') {
      this.filesDropped(event.paths);
    } else {
      void this.startFromTray(event.name);
    }
  };

  /** Files dropped on the window: a connected shell tab in front offers to send the first to
   *  its node; anywhere else the notice says where to drop them. */
  filesDropped(paths: string[]): void {
    const [first, ...rest] = paths;
    if (first === undefined) return;
    const tab = this.state.tabs.tabs.find((t) => t.key === this.state.tabs.active);
    if (!tab || tab.kind !== 'shell' || tab.state.state !== 'connected') {
      this.notify('Drop a file on a connected shell tab to send it to that node.');
      return;
    }
    if (rest.length > 0) this.notify(`One file at a time: sending ${first} first.`);
    this.set({
      dialog: {
        kind: 'copy',
        direction: 'upload',
        target: tab.request.target,
        title: tab.title,
        local: first,
      },
    });
  }

  private async startFromTray(name: string) {
    await this.loadProfiles();
    const profile = this.state.profiles.find((p) => p.name === name);
    if (!profile) this.notify(`${name}: no saved profile has that name any more.`);
    else if (!this.state.runningProfiles.has(name)) await this.startProfile(profile);
  }

  /** The answer to the close dialog. */
  async closeWindow(keepRunning: boolean, remember: boolean): Promise<void> {
    this.set({ dialog: null });
    try {
      await this.backend.closeWindow(keepRunning, remember);
    } catch (error) {
      this.notify(UserError.from(error).message);
    }
  }

  private async autoStart() {
    if (this.autoStarted) return;
    this.autoStarted = true;
    const all = await this.backend.listProfiles().catch(() => [] as TunnelProfile[]);
    await Promise.all(all.filter((p) => p.autoStart).map((p) => this.startProfile(p)));
  }

  private async arrived(context: Context) {
    this.set({ context });
    if (context.notice) this.notify(context.notice);
    await Promise.all([this.loadNodes(), this.loadIdentity()]);
  }

  notify = (text: string): void => {
    const id = this.nextNotice++;
    this.set({ notices: [...this.state.notices, { id, text }] });
    this.timers.setTimeout(() => this.dismiss(id), NOTICE_MS);
  };

  dismiss(id: number): void {
    this.set({ notices: this.state.notices.filter((n) => n.id !== id) });
  }

  async loadNodes(): Promise<void> {
    this.set({ nodesLoading: true, nodesError: null });
    try {
      const listing = await this.backend.listNodes();
      this.set({ nodes: listing.nodes, nodeNotices: listing.notices, nodesLoading: false });
    } catch (error) {
      this.set({
        nodes: [],
        nodeNotices: [],
        nodesError: UserError.from(error).message,
        nodesLoading: false,
      });
    }
  }

  async loadIdentity(): Promise<void> {
    this.set({ identity: null, identityError: null });
    try {
      this.set({ identity: await this.backend.whoami() });
    } catch (error) {
      this.set({ identityError: UserError.from(error).message });
    }
  }

  async loadProfiles(): Promise<void> {
    try {
      this.set({ profiles: await this.backend.listProfiles() });
    } catch (error) {
      this.notify(UserError.from(error).message);
    }
  }

  async choosePlace(choice: { demo: boolean; profile: string | null; region: string | null }): Promise<void> {
    this.set({ placeBusy: true });
    try {
      await this.arrived(await this.backend.choosePlace(choice));
    } catch (error) {
      this.notify(UserError.from(error).message);
    } finally {
      this.set({ placeBusy: false });
    }
  }

  saveSettings(settings: Settings): void {
    this.set({ settings });
    this.backend.saveSettings(settings).catch((e) => this.notify(UserError.from(e).message));
  }

  /** System, then light, then dark. */
  cycleTheme(): void {
    const { settings } = this.state;
    const theme = settings.theme === 'system' ? 'light' : settings.theme === 'light' ? 'dark' : 'system';
    this.saveSettings({ ...settings, theme });
  }

  /** A step bigger or smaller, within the engine's limits; `null` for the default size. */
  zoom(delta: number | null): void {
    const { settings } = this.state;
    const size =
      delta === null
        ? LIMITS.fontDefault
        : Math.max(LIMITS.fontMin, Math.min(LIMITS.fontMax, settings.fontSize + delta));
    if (size !== settings.fontSize) this.saveSettings({ ...settings, fontSize: size });
  }

  select(id: string | null): void {
    this.set({ selected: id });
  }

  selectedNode(): ManagedNode | null {
    return this.state.nodes.find((n) => n.id === this.state.selected) ?? null;
  }

  openDialog(dialog: DialogState): void {
    this.set({ dialog });
  }

  setWaitingForCredentials = (waiting: boolean): void => {
    this.set({ waitingForCredentials: waiting });
  };

  tabs(action: TabsAction): void {
    this.set({ tabs: tabsReducer(this.state.tabs, action) });
  }

  openShell(node: ManagedNode, request?: Partial<ShellRequest>): string {
    const key = `shell-${this.nextKey++}`;
    const full: ShellRequest = { target: node.id, document: null, parameters: {}, reason: null, ...request };
    const title =
      full.document && full.document !== 'SSM-SessionManagerRunShell'
        ? `${node.name || node.id} · ${full.document}`
        : node.name || node.id;
    this.tabs({
      type: 'open',
      tab: {
        kind: 'shell',
        key,
        title,
        request: full,
        state: { state: 'connecting', stage: 'starting-session' },
        stateSince: Date.now(),
      },
    });
    return key;
  }

  shellState(key: string, state: SessionState): void {
    this.tabs({ type: 'shell-state', key, state, at: Date.now() });
  }

  /** A tab for a tunnel that has started. */
  openTunnelTab(session: TunnelSession, title: string, profileName: string | null): string {
    const key = `tunnel-${this.nextKey++}`;
    this.tunnels.add(key, session, profileName);
    const request: TunnelRequest =
      session.origin.kind === 'request'
        ? session.origin.request
        : {
            kind: 'forward',
            target: '',
            remotePort: 0,
            remoteHost: null,
            localPort: 0,
            bind: '',
            sessions: 1,
            reason: null,
            document: null,
            parameters: {},
            keepAlive: false,
          };
    this.tabs({ type: 'open', tab: { kind: 'tunnel', key, title, request, profileName } });
    return key;
  }

  async startProfile(profile: TunnelProfile): Promise<void> {
    const session = new TunnelSession(this.backend, { kind: 'profile', name: profile.name });
    await session.start();
    if (session.phase.phase === 'failed') {
      this.notify(`${profile.name}: ${session.phase.error.message}`);
      return;
    }
    this.openTunnelTab(session, profile.name, profile.name);
  }

  /** Starts a tunnel of a Port document (from "Start session…") in a tab of its own. */
  async startDocumentTunnel(node: ManagedNode, request: TunnelRequest): Promise<void> {
    const session = new TunnelSession(this.backend, { kind: 'request', request });
    await session.start();
    if (session.phase.phase === 'failed') this.notify(session.phase.error.message);
    else this.openTunnelTab(session, `${node.name || node.id} · ${request.document}`, null);
  }

  /** Closes a tab; a tunnel's is stopped first. */
  closeTab(key: string): void {
    const tunnel = this.tunnels.get(key);
    if (tunnel) {
      void tunnel.stop();
      this.tunnels.remove(key);
    }
    this.tabs({ type: 'close', key });
  }
}

/** The window's state; re-renders the caller on every change. */
export function useWindowState(store: WindowStore): WindowState {
  return useSyncExternalStore(store.subscribe, store.snapshot);
}
