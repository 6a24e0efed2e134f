// The window: where the app looks (profile, region, identity), the tab strip (the node list
// first, then shells and tunnels), and the dialogs. The state several views share lives in
// the window's store (windowStore.ts); this draws it and routes the keyboard shortcuts.

import { useEffect, useRef, useState } from 'react';
import { useBackend } from '../backend/backend';
import type { SessionState } from '../backend/types';
import { NodeList, type NodeListHandle } from '../nodes/NodeList';
import { PlacePicker } from '../place/PlacePicker';
import { ProfileEditor } from '../profiles/ProfileEditor';
import { ProfilesPanel } from '../profiles/ProfilesPanel';
import { RdpDialog } from '../rdp/RdpDialog';
import { copyName } from '../profiles/validate';
import { SessionsDialog } from '../sessions/SessionsDialog';
import { StartSessionDialog } from '../sessions/StartSessionDialog';
import { CredentialPrompts } from '../credentials/CredentialPrompts';
import { DoctorDialog } from '../doctor/DoctorDialog';
import { TerminalView, type TerminalViewHandle } from '../terminal/TerminalView';
import { TunnelForm } from '../tunnels/TunnelForm';
import { TunnelSession } from '../tunnels/tunnelSession';
import { TunnelView } from '../tunnels/TunnelView';
import { CloseDialog } from './CloseDialog';
import { ShortcutsHelp } from './ShortcutsHelp';
import { AboutDialog } from '../about/AboutDialog';
import { matchShortcut } from './shortcuts';
import { useWindowState, WindowStore } from './windowStore';
import { TabButton } from './TabButton';
import { CopyDialog } from '../files/CopyDialog';

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
  const [store] = useState(() => new WindowStore(backend));
  const {
    context,
    fatal,
    placeBusy,
    identity,
    identityError,
    nodes,
    nodesLoading,
    nodesError,
    nodeNotices,
    selected,
    profiles,
    runningProfiles,
    settings,
    tabs,
    dialog,
    notices,
    waitingForCredentials,
  } = useWindowState(store);
  const terminals = useRef(new Map<string, TerminalViewHandle>());
  const nodeList = useRef<NodeListHandle>(null);
  const systemDark = useSystemDark();
  const theme: 'light' | 'dark' =
    settings.theme === 'system' ? (systemDark ? 'dark' : 'light') : settings.theme;

  useEffect(() => void store.start(), [store]);

  const selectedNode = nodes.find((n) => n.id === selected) ?? null;
  const activeTab = tabs.tabs.find((t) => t.key === tabs.active) ?? null;

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
        if (selectedNode) store.openDialog({ kind: 'start-session', node: selectedNode });
        else store.notify('Select a node first (Ctrl+Shift+L shows the list).');
        break;
      case 'new-tunnel':
        store.openDialog({ kind: 'tunnel', target: selectedNode?.id ?? null });
        break;
      case 'close-tab':
        if (activeTab) store.closeTab(activeTab.key);
        break;
      case 'next-tab':
        store.tabs({ type: 'next' });
        break;
      case 'previous-tab':
        store.tabs({ type: 'previous' });
        break;
      case 'focus-filter':
        store.tabs({ type: 'activate', key: null });
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
        store.zoom(1);
        break;
      case 'zoom-out':
        store.zoom(-1);
        break;
      case 'zoom-reset':
        store.zoom(null);
        break;
      case 'help':
        store.openDialog(dialog?.kind === 'help' ? null : { kind: 'help' });
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
            onChoose={(choice) => void store.choosePlace(choice)}
          />
        )}
        <span className="spacer" />
        <button className="icon" title="Theme" aria-label="Theme" onClick={() => store.cycleTheme()}>
          {settings.theme === 'system' ? 'Auto' : settings.theme === 'light' ? 'Light' : 'Dark'}
        </button>
        <button
          title="The place's active and recent sessions, from any client; terminate one"
          onClick={() => store.openDialog({ kind: 'sessions' })}
        >
          Sessions
        </button>
        <button
          title="Check, step by step, the way to Session Manager: trust, proxy, clock, credentials, permissions"
          onClick={() => store.openDialog({ kind: 'doctor', target: selected })}
        >
          Check connection
        </button>
        <button
          className="icon"
          title="Keyboard shortcuts (F1)"
          aria-label="Keyboard shortcuts"
          onClick={() => store.openDialog({ kind: 'help' })}
        >
          ?
        </button>
        <button
          className="icon"
          title="About Airlock: its version and the licences of what it bundles"
          aria-label="About Airlock"
          onClick={() => store.openDialog({ kind: 'about' })}
        >
          i
        </button>
      </header>
      <nav className="tabstrip" role="tablist">
        <button
          role="tab"
          aria-selected={tabs.active === null}
          className={`tab home${tabs.active === null ? ' active' : ''}`}
          onClick={() => store.tabs({ type: 'activate', key: null })}
        >
          Nodes
        </button>
        {tabs.tabs.map((tab) => (
          <TabButton
            key={tab.key}
            tab={tab}
            active={tab.key === tabs.active}
            onActivate={() => store.tabs({ type: 'activate', key: tab.key })}
            onClose={() => store.closeTab(tab.key)}
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
            onSelect={(id) => store.select(id)}
            onOpenShell={(node) => store.openShell(node)}
            onStartSession={(node) => store.openDialog({ kind: 'start-session', node })}
            onNewTunnel={(node) => store.openDialog({ kind: 'tunnel', target: node.id })}
            onRdp={(node) => store.openDialog({ kind: 'rdp', node })}
            onRefresh={() => void store.loadNodes()}
          />
          <ProfilesPanel
            profiles={profiles}
            running={runningProfiles}
            onStart={(p) => void store.startProfile(p)}
            onEdit={(p) => store.openDialog({ kind: 'profile', original: p, template: null })}
            onDuplicate={(p) =>
              store.openDialog({
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
              store.openDialog({
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
                      keepAlive: false,
                      moreForwards: [],
                    }
                  : null,
              })
            }
            onChanged={() => void store.loadProfiles()}
            onNotice={store.notify}
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
              onState={(state: SessionState) => store.shellState(tab.key, state)}
              onCloseTab={() => store.closeTab(tab.key)}
              onCopy={(direction) =>
                store.openDialog({
                  kind: 'copy',
                  direction,
                  target: tab.request.target,
                  title: tab.title,
                  local: null,
                })
              }
              waitingForCredentials={waitingForCredentials}
            />
          ) : (
            store.tunnels.get(tab.key) && (
              <TunnelView
                key={tab.key}
                session={store.tunnels.get(tab.key) as TunnelSession}
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
            <button className="icon" aria-label="Dismiss" onClick={() => store.dismiss(n.id)}>
              ✕
            </button>
          </div>
        ))}
      </div>
      {dialog?.kind === 'start-session' && (
        <StartSessionDialog
          node={dialog.node}
          onClose={() => store.openDialog(null)}
          onShell={(document, parameters, reason) => {
            store.openDialog(null);
            store.openShell(dialog.node, { document, parameters, reason });
          }}
          onPort={(document, parameters, reason) => {
            const node = dialog.node;
            store.openDialog(null);
            void store.startDocumentTunnel(node, {
              kind: 'forward',
              target: node.id,
              remotePort: 0,
              remoteHost: null,
              localPort: 0,
              bind: '127.0.0.1',
              sessions: 1,
              reason,
              document,
              parameters,
              keepAlive: false,
            });
          }}
        />
      )}
      {dialog?.kind === 'rdp' && (
        <RdpDialog
          node={dialog.node}
          onClose={() => store.openDialog(null)}
          onStarted={(session, title) => store.openTunnelTab(session, title, null)}
        />
      )}
      {dialog?.kind === 'tunnel' && (
        <TunnelForm
          nodes={nodes}
          target={dialog.target}
          takenNames={profiles.map((p) => p.name)}
          onClose={() => store.openDialog(null)}
          onSavedProfile={() => void store.loadProfiles()}
          onStarted={(session, title, profileName) => {
            store.openDialog(null);
            store.openTunnelTab(session, title, profileName);
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
          onClose={() => store.openDialog(null)}
          onSaved={() => {
            store.openDialog(null);
            void store.loadProfiles();
          }}
        />
      )}
      {dialog?.kind === 'close' && (
        <CloseDialog
          tunnels={dialog.tunnels}
          tray={dialog.tray}
          onChoose={(keepRunning, remember) => void store.closeWindow(keepRunning, remember)}
          onCancel={() => store.openDialog(null)}
        />
      )}
      {dialog?.kind === 'help' && <ShortcutsHelp onClose={() => store.openDialog(null)} />}
      {dialog?.kind === 'about' && <AboutDialog onClose={() => store.openDialog(null)} />}
      {dialog?.kind === 'copy' && (
        <CopyDialog
          direction={dialog.direction}
          target={dialog.target}
          title={dialog.title}
          local={dialog.local}
          onClose={() => store.openDialog(null)}
        />
      )}
      {dialog?.kind === 'sessions' && <SessionsDialog nodes={nodes} onClose={() => store.openDialog(null)} />}
      {dialog?.kind === 'doctor' && (
        <DoctorDialog target={dialog.target} onClose={() => store.openDialog(null)} />
      )}
      <CredentialPrompts onError={store.notify} onWaiting={store.setWaitingForCredentials} />
    </div>
  );
}
