// A shell tab's view: the terminal, its find bar, Send file… and Get file…, and the banner
// that says the session is reconnecting or has ended (with a Reconnect button). The terminal
// itself lives in a TerminalController that outlives re-renders; this component only places
// it.

import { useEffect, useImperativeHandle, useRef, useState, forwardRef } from 'react';
import { useBackend } from '../backend/backend';
import type { CopyDirection, SessionState, ShellRequest } from '../backend/types';
import { stateLabel } from '../app/tabs';
import { useNow } from '../app/useNow';
import { TerminalController } from './terminalController';
import { registerScreen } from './screens';

export interface TerminalViewHandle {
  find(): void;
  copy(): void;
  paste(): void;
  focus(): void;
}

interface Props {
  tabKey: string;
  request: ShellRequest;
  state: SessionState;
  active: boolean;
  fontSize: number;
  theme: 'light' | 'dark';
  onState: (state: SessionState) => void;
  onCloseTab: () => void;
  /** Send file… or Get file… was pressed (the session is connected). */
  onCopy?: (direction: CopyDirection) => void;
  /** A credential prompt is waiting for the user (an MFA code, an SSO login). */
  waitingForCredentials?: boolean;
}

const WAITING = ' Waiting for credentials: answer the prompt to continue.';

export const TerminalView = forwardRef<TerminalViewHandle, Props>(function TerminalView(props, ref) {
  const {
    tabKey,
    request,
    state,
    active,
    fontSize,
    theme,
    onState,
    onCloseTab,
    onCopy,
    waitingForCredentials = false,
  } = props;
  const backend = useBackend();
  const element = useRef<HTMLDivElement>(null);
  const controller = useRef<TerminalController | null>(null);
  const onStateRef = useRef(onState);
  onStateRef.current = onState;
  const [findOpen, setFindOpen] = useState(false);
  const [needle, setNeedle] = useState('');
  const [found, setFound] = useState<boolean | null>(null);
  const [stateSince, setStateSince] = useState(() => Date.now());
  const findInput = useRef<HTMLInputElement>(null);
  const now = useNow(state.state === 'reconnecting' ? 250 : null);

  useEffect(() => {
    const c = new TerminalController(backend, request, {
      fontSize,
      theme,
      onState: (s) => onStateRef.current(s),
    });
    controller.current = c;
    if (element.current) c.mount(element.current);
    const unregister = registerScreen(tabKey, () => c.text());
    return () => {
      unregister();
      c.dispose();
      controller.current = null;
    };
    // The terminal is made once per tab; font and theme changes are applied below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => controller.current?.setFontSize(fontSize), [fontSize]);
  useEffect(() => controller.current?.setTheme(theme), [theme]);
  useEffect(() => setStateSince(Date.now()), [state]);
  useEffect(() => controller.current?.setShown(active), [active]);
  useEffect(() => {
    if (active) {
      // Becoming visible: take the real size, then the keyboard.
      requestAnimationFrame(() => {
        controller.current?.fitNow();
        if (!findOpen) controller.current?.focus();
      });
    }
  }, [active, findOpen]);

  useImperativeHandle(ref, () => ({
    find() {
      setFindOpen(true);
      requestAnimationFrame(() => findInput.current?.select());
    },
    copy() {
      void controller.current?.copySelection();
    },
    paste() {
      void controller.current?.paste();
    },
    focus() {
      controller.current?.focus();
    },
  }));

  const search = (backwards: boolean) => setFound(controller.current?.find(needle, backwards) ?? null);
  const closeFind = () => {
    setFindOpen(false);
    setFound(null);
    controller.current?.clearFind();
    controller.current?.focus();
  };

  return (
    <div className="terminal-tab" hidden={!active} data-tab={tabKey}>
      {onCopy && (
        <div className="terminal-actions">
          <button
            type="button"
            onClick={() => onCopy('upload')}
            disabled={state.state !== 'connected'}
            title="Copy a file from this machine to the node (or drop one on the tab)"
          >
            Send file…
          </button>
          <button
            type="button"
            onClick={() => onCopy('download')}
            disabled={state.state !== 'connected'}
            title="Copy a file from the node to this machine"
          >
            Get file…
          </button>
        </div>
      )}
      {findOpen && (
        <div className="find-bar" role="search">
          <input
            ref={findInput}
            aria-label="Find in terminal"
            placeholder="Find in terminal"
            value={needle}
            onChange={(e) => {
              setNeedle(e.target.value);
              setFound(controller.current?.find(e.target.value) ?? null);
            }}
            onKeyDown={(e) => {
              if (e.key === 'Enter') search(e.shiftKey);
              if (e.key === 'Escape') closeFind();
            }}
          />
          <button onClick={() => search(true)} title="Previous match (Shift+Enter)">
            ↑
          </button>
          <button onClick={() => search(false)} title="Next match (Enter)">
            ↓
          </button>
          <span className="find-result">{found === false && needle ? 'No match' : ''}</span>
          <button onClick={closeFind} title="Close (Esc)">
            ✕
          </button>
        </div>
      )}
      <div className="terminal-host" ref={element} />
      {state.state === 'reconnecting' && (
        <div className="banner warning" role="status">
          Connection lost ({state.reason}). {stateLabel(state, now, stateSince)}
          {waitingForCredentials && WAITING}
        </div>
      )}
      {state.state === 'connecting' && (
        <div className="banner info" role="status">
          {stateLabel(state, now, stateSince)}
          {waitingForCredentials && WAITING}
        </div>
      )}
      {state.state === 'ended' && (
        <div className="banner ended" role="status">
          <span>
            {state.byUser ? 'Session closed.' : `Session ended: ${state.reason}`}
            {state.exitCode !== null ? ` Exit code ${state.exitCode}.` : ''}
          </span>
          <span className="banner-actions">
            <button className="primary" onClick={() => controller.current?.reconnect()}>
              Reconnect
            </button>
            <button onClick={onCloseTab}>Close tab</button>
          </span>
        </div>
      )}
    </div>
  );
});
