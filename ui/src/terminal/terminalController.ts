// One terminal tab: an xterm.js terminal joined to a backend shell session. This is where a
// byte from the session becomes a character on screen: `onMessage` → the output gate (which
// holds it while the tab is hidden, outputGate.ts) → `term.write`, and the write's callback
// acknowledges the bytes so the backend sends more (flow control).
//
// Keystrokes go the other way through `term.onData` → `shellInput`. The size follows the
// element (ResizeObserver → fit → `shellResize`). Copy, paste, find, zoom and theme are
// methods the tab's toolbar and the shortcuts call.

import { FitAddon } from '@xterm/addon-fit';
import { SearchAddon } from '@xterm/addon-search';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { Terminal, type ITheme } from '@xterm/xterm';
import type { Backend } from '../backend/backend';
import type { SessionMessage, SessionState, ShellRequest } from '../backend/types';
import { OutputGate } from './outputGate';

export const DARK: ITheme = {
  background: '#15171c',
  foreground: '#d8dee9',
  cursor: '#f0c674',
  selectionBackground: '#3b4252',
  black: '#2e3440',
  red: '#e06c75',
  green: '#98c379',
  yellow: '#e5c07b',
  blue: '#61afef',
  magenta: '#c678dd',
  cyan: '#56b6c2',
  white: '#d8dee9',
  brightBlack: '#5c6370',
  brightRed: '#ff7b86',
  brightGreen: '#b5e890',
  brightYellow: '#ffd68a',
  brightBlue: '#7cc4ff',
  brightMagenta: '#dd9cf0',
  brightCyan: '#7bd6e0',
  brightWhite: '#ffffff',
};

export const LIGHT: ITheme = {
  background: '#fbfbfa',
  foreground: '#24292f',
  cursor: '#0969da',
  selectionBackground: '#b6d6fd',
  black: '#24292f',
  red: '#cf222e',
  green: '#116329',
  yellow: '#7d4e00',
  blue: '#0969da',
  magenta: '#8250df',
  cyan: '#1b7c83',
  white: '#6e7781',
  brightBlack: '#57606a',
  brightRed: '#a40e26',
  brightGreen: '#1a7f37',
  brightYellow: '#633c01',
  brightBlue: '#218bff',
  brightMagenta: '#a475f9',
  brightCyan: '#3192aa',
  brightWhite: '#8c959f',
};

export interface TerminalOptions {
  fontSize: number;
  theme: 'light' | 'dark';
  onState: (state: SessionState) => void;
}

export class TerminalController {
  readonly term: Terminal;
  private readonly fit = new FitAddon();
  private readonly search = new SearchAddon();
  private id: number | null = null;
  /** Keystrokes typed before the session has an id. */
  private queuedInput: string[] = [];
  /** Output drawn before the session has an id, to acknowledge once it has. */
  private queuedAck = 0;
  private generation = 0;
  private observer: ResizeObserver | null = null;
  private lastSize = { cols: 0, rows: 0 };
  private disposed = false;
  private readonly gate = new OutputGate((data) => {
    const length = data.length;
    this.term.write(data, () => this.ack(length));
  });

  constructor(
    private readonly backend: Backend,
    private readonly request: ShellRequest,
    private readonly options: TerminalOptions,
  ) {
    this.term = new Terminal({
      fontSize: options.fontSize,
      fontFamily: '"DejaVu Sans Mono", "Cascadia Mono", Menlo, Consolas, monospace',
      theme: options.theme === 'dark' ? DARK : LIGHT,
      scrollback: 10_000,
      cursorBlink: true,
      allowProposedApi: true,
    });
    this.term.loadAddon(this.fit);
    this.term.loadAddon(this.search);
    this.term.loadAddon(new WebLinksAddon((_event, uri) => void this.backend.openUrl(uri)));
    this.term.onData((data) => this.input(data));
  }

  /** Puts the terminal into `element` and starts the session. */
  mount(element: HTMLElement) {
    this.term.open(element);
    this.fitNow();
    this.observer = new ResizeObserver(() => this.fitNow());
    this.observer.observe(element);
    void this.connect();
  }

  /** Starts (or restarts) the session in this terminal. */
  async connect() {
    const generation = ++this.generation;
    this.id = null;
    this.queuedAck = 0;
    const size = { cols: this.term.cols, rows: this.term.rows };
    const onMessage = (message: SessionMessage) => {
      if (generation === this.generation && !this.disposed) this.handle(message);
    };
    try {
      const id = await this.backend.openShell(this.request, size, onMessage);
      if (generation !== this.generation || this.disposed) {
        void this.backend.closeShell(id);
        return;
      }
      this.id = id;
      if (this.queuedAck > 0) void this.backend.shellAck(id, this.queuedAck);
      this.queuedAck = 0;
      for (const data of this.queuedInput.splice(0)) void this.backend.shellInput(id, data);
    } catch (error) {
      const message =
        error instanceof Error ? error.message : String((error as { message?: string }).message ?? error);
      this.options.onState({ state: 'ended', reason: message, exitCode: null, byUser: false, failed: true });
    }
  }

  /** Starts a new session after the last one ended, keeping the scrollback. */
  reconnect() {
    this.term.write('\r\n\x1b[2m──── new session ────\x1b[0m\r\n');
    void this.connect();
  }

  private handle(message: SessionMessage) {
    if (message.kind === 'output') {
      this.gate.output(message.data);
      return;
    }
    this.gate.flush();
    const { state } = message;
    if (state.state === 'ended') {
      this.id = null;
      this.queuedInput = [];
      const code = state.exitCode !== null ? ` (exit code ${state.exitCode})` : '';
      this.term.write(
        `\r\n\x1b[2m[${state.byUser ? 'closed' : `session ended: ${state.reason}`}${code}]\x1b[0m\r\n`,
      );
    }
    this.options.onState(state);
  }

  private ack(bytes: number) {
    if (this.id === null) this.queuedAck += bytes;
    else void this.backend.shellAck(this.id, bytes);
  }

  private input(data: string) {
    if (this.id === null) this.queuedInput.push(data);
    else void this.backend.shellInput(this.id, data);
  }

  /** Shown or hidden with its tab: a hidden tab's output waits (outputGate.ts). */
  setShown(shown: boolean) {
    this.gate.setShown(shown);
  }

  /** Fits the terminal to its element; tells the session when the size changed. */
  fitNow() {
    const element = this.term.element;
    // A hidden tab has no size: fitting it would shrink the shell to nothing.
    if (!element || element.offsetParent === null || element.clientWidth === 0) return;
    this.fit.fit();
    const size = { cols: this.term.cols, rows: this.term.rows };
    if (size.cols !== this.lastSize.cols || size.rows !== this.lastSize.rows) {
      this.lastSize = size;
      if (this.id !== null) void this.backend.shellResize(this.id, size);
    }
  }

  focus() {
    this.term.focus();
  }

  async copySelection(): Promise<boolean> {
    const text = this.term.getSelection();
    if (!text) return false;
    await this.backend.copyText(text);
    return true;
  }

  async paste() {
    const text = await this.backend.readClipboard();
    if (text) this.term.paste(text);
  }

  find(text: string, backwards = false): boolean {
    if (!text) {
      this.search.clearDecorations();
      return false;
    }
    const options = {
      caseSensitive: false,
      decorations: {
        matchOverviewRuler: '#e5c07b',
        activeMatchColorOverviewRuler: '#ff7b86',
        matchBackground: '#5c4b1e',
        activeMatchBackground: '#8a3b43',
      },
    };
    return backwards ? this.search.findPrevious(text, options) : this.search.findNext(text, options);
  }

  clearFind() {
    this.search.clearDecorations();
    this.term.clearSelection();
  }

  setFontSize(size: number) {
    this.term.options.fontSize = size;
    this.fitNow();
  }

  setTheme(theme: 'light' | 'dark') {
    this.term.options.theme = theme === 'dark' ? DARK : LIGHT;
  }

  /** The screen and scrollback as text, one line per row (for reading it back). */
  text(): string {
    const buffer = this.term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < buffer.length; i += 1) lines.push(buffer.getLine(i)?.translateToString(true) ?? '');
    return lines.join('\n');
  }

  /** Ends the session (TerminateSession) and frees the terminal. */
  dispose() {
    this.disposed = true;
    this.generation += 1;
    this.observer?.disconnect();
    if (this.id !== null) void this.backend.closeShell(this.id);
    this.term.dispose();
  }

  /** Ends the session but keeps the terminal on screen. */
  close() {
    if (this.id !== null) void this.backend.closeShell(this.id);
  }
}
