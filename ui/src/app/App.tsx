// The window: where the app looks (profile, region, identity), the tab strip (the node list
// first, then shells and tunnels), and the dialogs. State that several views share lives here;
// each view owns the rest.

import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
import { useBackend } from '../backend/backend';
import { UserError } from '../backend/errors';
import type {
  Context,
  Identity,
  ManagedNode,
  SessionState,
  Settings,
  ShellRequest,
  TunnelProfile,
  TunnelRequest,
} from '../backend/types';
import { NodeList, type NodeListHandle } from '../nodes/NodeList';
import { PlacePicker } from '../place/PlacePicker';
import { ProfileEditor } from '../profiles/ProfileEditor';
import { ProfilesPanel } from '../profiles/ProfilesPanel';
import { copyName } from '../profiles/validate';
import { StartSessionDialog } from '../sessions/StartSessionDialog';
import { CredentialPrompts } from '../credentials/CredentialPrompts';
import { DoctorDialog } from '../doctor/DoctorDialog';
import { TerminalView, type TerminalViewHandle } from '../terminal/TerminalView';
import { TunnelForm } from '../tunnels/TunnelForm';
import { TunnelSession } from '../tunnels/tunnelSession';
import { TunnelRegistry, useRunningProfiles } from '../tunnels/tunnelRegistry';
import { TunnelView } from '../tunnels/TunnelView';
import { ShortcutsHelp } from './ShortcutsHelp';
import { matchShortcut } from './shortcuts';
import { initialTabs, tabsReducer } from './tabs';
import { TabButton } from './TabButton';

type DialogState =
  | null
  | { kind: 'start-session'; node: ManagedNode }
  | { kind: 'tunnel'; target: string | null }
  | { kind: 'profile'; original: TunnelProfile | null; template: TunnelProfile | null }
  | { kind: 'help' }
  | { kind: 'doctor'; target: string | null };

const FONT_MIN = 8;
const FONT_MAX = 32;
const FONT_DEFAULT = 14;

function useSystemDark(): boolean {
  const query =
    typeof window !== 'undefined' && window.matchMedia
      ? window.matchMedia('(prefers-color-scheme: dark)')
      : null;
  const [dark, setDark] = useState(query?.matches ?? true);
  useEffect(() => {
    if (!query) return undefined;
    const listener = (e: MediaQueryListEvent) => setDark(e.matches);
    query.addEventListener('change', listener);
    return () => query.removeEventListener('change', listener);
  }, [query]);
  return dark;
}

export function App() {
  const backend = useBackend();
  const [context, setContext] = useState<Context | null>(null);
  const [fatal, setFatal] = useState<string | null>(null);
  const [placeBusy, setPlaceBusy] = useState(false);
  const [identity, setIdentity] = useState<Identity | null>(null);
  const [identityError, setIdentityError] = useState<string | null>(null);
  const [nodes, setNodes] = useState<ManagedNode[]>([]);
  const [nodesLoading, setNodesLoading] = useState(false);
  const [nodesError, setNodesError] = useState<string | null>(null);
  const [nodeNotices, setNodeNotices] = useState<string[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [profiles, setProfiles] = useState<TunnelProfile[]>([]);
  const [settings, setSettings] = useState<Settings>({ theme: 'system', fontSize: FONT_DEFAULT });
  const [tabs, dispatch] = useReducer(tabsReducer, initialTabs);
  const [dialog, setDialog] = useState<DialogState>(null);
  const [notices, setNotices] = useState<Array<{ id: number; text: string }>>([]);
  const [waitingForCredentials, setWaitingForCredentials] = useState(false);
  const tunnels = useRef(new TunnelRegistry());
  // Follows every tunnel's phase, not only the tabs: a tunnel stopped from its own tab, or
  // one that dropped, frees its profile's Start button at once.
  const runningProfiles = useRunningProfiles(tunnels.current);
  const terminals = useRef(new Map<string, TerminalViewHandle>());
  const nodeList = useRef<NodeListHandle>(null);
  const nextKey = useRef(1);
  const nextNotice = useRef(1);
  const autoStarted = useRef(false);
  const systemDark = useSystemDark();
  const theme: 'light' | 'dark' =
    settings.theme === 'system' ? (systemDark ? 'dark' : 'light') : settings.theme;

  const notify = useCallback((text: string) => {
    const id = nextNotice.current++;
    setNotices((n) => [...n, { id, text }]);
    setTimeout(() => setNotices((n) => n.filter((x) => x.id !== id)), 8000);
  }, []);

  const loadNodes = useCallback(async () => {
    setNodesLoading(true);
    setNodesError(null);
    try {
      const listing = await backend.listNodes();
      setNodes(listing.nodes);
      setNodeNotices(listing.notices);
    } catch (error) {
      setNodes([]);
      setNodeNotices([]);
      setNodesError(UserError.from(error).message);
    } finally {
      setNodesLoading(false);
    }
  }, [backend]);

  const loadIdentity = useCallback(async () => {
    setIdentity(null);
    setIdentityError(null);
    try {
      setIdentity(await backend.whoami());
    } catch (error) {
      setIdentityError(UserError.from(error).message);
    }
  }, [backend]);

  const loadProfiles = useCallback(async () => {
    try {
      setProfiles(await backend.listProfiles());
    } catch (error) {
      notify(UserError.from(error).message);
    }
  }, [backend, notify]);

  const arrived = useCallback(
    (next: Context) => {
      setContext(next);
      if (next.notice) notify(next.notice);
      void loadNodes();
      void loadIdentity();
    },
    [loadNodes, loadIdentity, notify],
  );

  useEffect(() => {
    backend.loadSettings().then(setSettings, (e) => notify(UserError.from(e).message));
    backend.context().then(arrived, (e) => setFatal(UserError.from(e).message));
    void loadProfiles();
  }, [backend, arrived, loadProfiles, notify]);

  const choosePlace = async (choice: { demo: boolean; profile: string | null; region: string | null }) => {
    setPlaceBusy(true);
    try {
      arrived(await backend.choosePlace(choice));
    } catch (error) {
      notify(UserError.from(error).message);
    } finally {
      setPlaceBusy(false);
    }
  };

  const saveSettings = (next: Settings) => {
    setSettings(next);
    backend.saveSettings(next).catch((e) => notify(UserError.from(e).message));
  };

  const openShell = (node: ManagedNode, request?: Partial<ShellRequest>) => {
    const key = `shell-${nextKey.current++}`;
    const full: ShellRequest = { target: node.id, document: null, parameters: {}, reason: null, ...request };
    const title =
      full.document && full.document !== 'SSM-SessionManagerRunShell'
        ? `${node.name || node.id} · ${full.document}`
        : node.name || node.id;
    dispatch({
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
  };

  const openTunnelTab = (session: TunnelSession, title: string, profileName: string | null) => {
    const key = `tunnel-${nextKey.current++}`;
    tunnels.current.add(key, session, profileName);
    const request: TunnelRequest =
      session.origin.kind === 'request'
        ? session.origin.request
        : {
            target: '',
            remotePort: 0,
            remoteHost: null,
            localPort: 0,
            bind: '',
            sessions: 1,
            reason: null,
            document: null,
            parameters: {},
          };
    dispatch({ type: 'open', tab: { kind: 'tunnel', key, title, request, profileName } });
  };

  const startProfile = useCallback(
    async (profile: TunnelProfile) => {
      const session = new TunnelSession(backend, { kind: 'profile', name: profile.name });
      await session.start();
      if (session.phase.phase === 'failed') {
        notify(`${profile.name}: ${session.phase.error.message}`);
        return;
      }
      openTunnelTab(session, profile.name, profile.name);
    },
    [backend, notify],
  );

  // Profiles marked auto-start run once, when the app has its first place.
  useEffect(() => {
    if (!context || autoStarted.current) return;
    autoStarted.current = true;
    backend.listProfiles().then(
      (all) => all.filter((p) => p.autoStart).forEach((p) => void startProfile(p)),
      () => undefined,
    );
  }, [backend, context, startProfile]);

  const closeTab = (key: string) => {
    const tunnel = tunnels.current.get(key);
    if (tunnel) {
      void tunnel.stop();
      tunnels.current.remove(key);
    }
    dispatch({ type: 'close', key });
  };

  const selectedNode = nodes.find((n) => n.id === selected) ?? null;
  const activeTab = tabs.tabs.find((t) => t.key === tabs.active) ?? null;

  const zoom = (delta: number | null) => {
    const size =
      delta === null ? FONT_DEFAULT : Math.max(FONT_MIN, Math.min(FONT_MAX, settings.fontSize + delta));
    if (size !== settings.fontSize) saveSettings({ ...settings, fontSize: size });
  };

  // Shortcuts are caught before the terminal sees them (capture phase).
  const handlers = useRef<(e: KeyboardEvent) => void>(() => undefined);
  handlers.current = (e: KeyboardEvent) => {
    const action = matchShortcut(e);
    if (!action) return;
    if (dialog && action !== 'help') return;
    const terminal = activeTab?.kind === 'shell' ? terminals.current.get(activeTab.key) : undefined;
    if ((action === 'copy' || action === 'paste' || action === 'find') && !terminal) return;
    e.preventDefault();
    e.stopPropagation();
    switch (action) {
      case 'new-session':
        if (selectedNode) setDialog({ kind: 'start-session', node: selectedNode });
        else notify('Select a node first (Ctrl+Shift+L shows the list).');
        break;
      case 'new-tunnel':
        setDialog({ kind: 'tunnel', target: selectedNode?.id ?? null });
        break;
      case 'close-tab':
        if (activeTab) closeTab(activeTab.key);
        break;
      case 'next-tab':
        dispatch({ type: 'next' });
        break;
      case 'previous-tab':
        dispatch({ type: 'previous' });
        break;
      case 'focus-filter':
        dispatch({ type: 'activate', key: null });
        requestAnimationFrame(() => nodeList.current?.focusFilter());
        break;
      case 'find':
        terminal?.find();
        break;
      case 'copy':
        terminal?.copy();
        break;
      case 'paste':
        terminal?.paste();
        break;
      case 'zoom-in':
        zoom(1);
        break;
      case 'zoom-out':
        zoom(-1);
        break;
      case 'zoom-reset':
        zoom(null);
        break;
      case 'help':
        setDialog(dialog?.kind === 'help' ? null : { kind: 'help' });
        break;
    }
  };
  useEffect(() => {
    const listener = (e: KeyboardEvent) => handlers.current(e);
    window.addEventListener('keydown', listener, true);
    return () => window.removeEventListener('keydown', listener, true);
  }, []);

  if (fatal) {
    return (
      <div className={`app theme-${theme}`}>
        <div className="fatal">
          <h1>Airlock could not start</h1>
          <p>{fatal}</p>
        </div>
      </div>
    );
  }

  const demo = context?.place.demo ?? false;
  return (
    <div className={`app theme-${theme}`}>
      <header className="topbar">
        <span className="brand">Airlock</span>
        {demo && (
          <span
            className="demo-badge"
            title="Nodes, shells and tunnels come from an emulator running inside Airlock on this machine. Nothing here touches AWS."
          >
            Demo fleet · emulator on this machine, not AWS
          </span>
        )}
        {context && (
          <PlacePicker
            context={context}
            identity={identity}
            identityError={identityError}
            busy={placeBusy}
            onChoose={choosePlace}
          />
        )}
        <span className="spacer" />
        <button
          className="icon"
          title="Theme"
          aria-label="Theme"
          onClick={() =>
            saveSettings({
              ...settings,
              theme: settings.theme === 'system' ? 'light' : settings.theme === 'light' ? 'dark' : 'system',
            })
          }
        >
          {settings.theme === 'system' ? 'Auto' : settings.theme === 'light' ? 'Light' : 'Dark'}
        </button>
        <button
          title="Check, step by step, the way to Session Manager: trust, proxy, clock, credentials, permissions"
          onClick={() => setDialog({ kind: 'doctor', target: selected })}
        >
          Check connection
        </button>
        <button
          className="icon"
          title="Keyboard shortcuts (F1)"
          aria-label="Keyboard shortcuts"
          onClick={() => setDialog({ kind: 'help' })}
        >
          ?
        </button>
      </header>
      <nav className="tabstrip" role="tablist">
        <button
          role="tab"
          aria-selected={tabs.active === null}
          className={`tab home${tabs.active === null ? ' active' : ''}`}
          onClick={() => dispatch({ type: 'activate', key: null })}
        >
          Nodes
        </button>
        {tabs.tabs.map((tab) => (
          <TabButton
            key={tab.key}
            tab={tab}
            active={tab.key === tabs.active}
            onActivate={() => dispatch({ type: 'activate', key: tab.key })}
            onClose={() => closeTab(tab.key)}
          />
        ))}
      </nav>
      <main>
        <div className="home" hidden={tabs.active !== null}>
          <NodeList
            ref={nodeList}
            nodes={nodes}
            loading={nodesLoading || !context}
            error={nodesError}
            notices={nodeNotices}
            selected={selected}
            onSelect={setSelected}
            onOpenShell={(node) => openShell(node)}
            onStartSession={(node) => setDialog({ kind: 'start-session', node })}
            onNewTunnel={(node) => setDialog({ kind: 'tunnel', target: node.id })}
            onRefresh={() => void loadNodes()}
          />
          <ProfilesPanel
            profiles={profiles}
            running={runningProfiles}
            onStart={(p) => void startProfile(p)}
            onEdit={(p) => setDialog({ kind: 'profile', original: p, template: null })}
            onDuplicate={(p) =>
              setDialog({
                kind: 'profile',
                original: null,
                template: {
                  ...p,
                  name: copyName(
                    p.name,
                    profiles.map((x) => x.name),
                  ),
                  autoStart: false,
                },
              })
            }
            onAdd={() =>
              setDialog({
                kind: 'profile',
                original: null,
                template: selectedNode
                  ? {
                      name: '',
                      awsProfile: null,
                      region: null,
                      target: selectedNode.id,
                      remotePort: 0,
                      remoteHost: null,
                      localPort: 0,
                      bind: '127.0.0.1',
                      sessions: 1,
                      autoStart: false,
                    }
                  : null,
              })
            }
            onChanged={() => void loadProfiles()}
            onNotice={notify}
          />
        </div>
        {tabs.tabs.map((tab) =>
          tab.kind === 'shell' ? (
            <TerminalView
              key={tab.key}
              ref={(handle) => {
                if (handle) terminals.current.set(tab.key, handle);
                else terminals.current.delete(tab.key);
              }}
              tabKey={tab.key}
              request={tab.request}
              state={tab.state}
              active={tab.key === tabs.active}
              fontSize={settings.fontSize}
              theme={theme}
              onState={(state: SessionState) =>
                dispatch({ type: 'shell-state', key: tab.key, state, at: Date.now() })
              }
              onCloseTab={() => closeTab(tab.key)}
              waitingForCredentials={waitingForCredentials}
            />
          ) : (
            tunnels.current.get(tab.key) && (
              <TunnelView
                key={tab.key}
                session={tunnels.current.get(tab.key) as TunnelSession}
                active={tab.key === tabs.active}
                title={tab.title}
                waitingForCredentials={waitingForCredentials}
              />
            )
          ),
        )}
      </main>
      <div className="notices" aria-live="polite">
        {notices.map((n) => (
          <div key={n.id} className="notice" role="alert">
            {n.text}
            <button
              className="icon"
              aria-label="Dismiss"
              onClick={() => setNotices((all) => all.filter((x) => x.id !== n.id))}
            >
              ✕
            </button>
          </div>
        ))}
      </div>
      {dialog?.kind === 'start-session' && (
        <StartSessionDialog
          node={dialog.node}
          onClose={() => setDialog(null)}
          onShell={(document, parameters, reason) => {
            setDialog(null);
            openShell(dialog.node, { document, parameters, reason });
          }}
          onPort={async (document, parameters, reason) => {
            const node = dialog.node;
            setDialog(null);
            const request: TunnelRequest = {
              target: node.id,
              remotePort: 0,
              remoteHost: null,
              localPort: 0,
              bind: '127.0.0.1',
              sessions: 1,
              reason,
              document,
              parameters,
            };
            const session = new TunnelSession(backend, { kind: 'request', request });
            await session.start();
            if (session.phase.phase === 'failed') notify(session.phase.error.message);
            else openTunnelTab(session, `${node.name || node.id} · ${document}`, null);
          }}
        />
      )}
      {dialog?.kind === 'tunnel' && (
        <TunnelForm
          nodes={nodes}
          target={dialog.target}
          takenNames={profiles.map((p) => p.name)}
          onClose={() => setDialog(null)}
          onSavedProfile={() => void loadProfiles()}
          onStarted={(session, title, profileName) => {
            setDialog(null);
            openTunnelTab(session, title, profileName);
          }}
        />
      )}
      {dialog?.kind === 'profile' && context && (
        <ProfileEditor
          original={dialog.original}
          template={dialog.template}
          takenNames={profiles.map((p) => p.name)}
          awsProfiles={context.profiles}
          regions={context.regions}
          nodes={nodes}
          onClose={() => setDialog(null)}
          onSaved={() => {
            setDialog(null);
            void loadProfiles();
          }}
        />
      )}
      {dialog?.kind === 'help' && <ShortcutsHelp onClose={() => setDialog(null)} />}
      {dialog?.kind === 'doctor' && <DoctorDialog target={dialog.target} onClose={() => setDialog(null)} />}
      <CredentialPrompts onError={notify} onWaiting={setWaitingForCredentials} />
    </div>
  );
}
