// The keyboard shortcuts, in one table: what the help lists is what the handler matches.
// Ctrl+Shift is used throughout so that plain Ctrl keys reach the shell (Ctrl-C, Ctrl-W, …).

export type ShortcutAction =
  | 'new-session'
  | 'new-tunnel'
  | 'close-tab'
  | 'next-tab'
  | 'previous-tab'
  | 'focus-filter'
  | 'find'
  | 'zoom-in'
  | 'zoom-out'
  | 'zoom-reset'
  | 'copy'
  | 'paste'
  | 'help';

export interface Shortcut {
  action: ShortcutAction;
  keys: string;
  description: string;
  /** KeyboardEvent.code values that trigger it with the modifiers below. */
  codes: string[];
  ctrl: boolean;
  shift: boolean;
}

export const SHORTCUTS: Shortcut[] = [
  {
    action: 'new-session',
    keys: 'Ctrl+Shift+T',
    description: 'Start a session on the selected node…',
    codes: ['KeyT'],
    ctrl: true,
    shift: true,
  },
  {
    action: 'new-tunnel',
    keys: 'Ctrl+Shift+U',
    description: 'New tunnel…',
    codes: ['KeyU'],
    ctrl: true,
    shift: true,
  },
  {
    action: 'close-tab',
    keys: 'Ctrl+Shift+W',
    description: 'Close the tab',
    codes: ['KeyW'],
    ctrl: true,
    shift: true,
  },
  {
    action: 'next-tab',
    keys: 'Ctrl+Tab',
    description: 'Next tab',
    codes: ['Tab', 'PageDown'],
    ctrl: true,
    shift: false,
  },
  {
    action: 'previous-tab',
    keys: 'Ctrl+Shift+Tab',
    description: 'Previous tab',
    codes: ['Tab', 'PageUp'],
    ctrl: true,
    shift: true,
  },
  {
    action: 'focus-filter',
    keys: 'Ctrl+Shift+L',
    description: 'Show the nodes and focus the filter',
    codes: ['KeyL'],
    ctrl: true,
    shift: true,
  },
  {
    action: 'find',
    keys: 'Ctrl+Shift+F',
    description: 'Find in the terminal',
    codes: ['KeyF'],
    ctrl: true,
    shift: true,
  },
  {
    action: 'copy',
    keys: 'Ctrl+Shift+C',
    description: 'Copy the selection',
    codes: ['KeyC'],
    ctrl: true,
    shift: true,
  },
  { action: 'paste', keys: 'Ctrl+Shift+V', description: 'Paste', codes: ['KeyV'], ctrl: true, shift: true },
  {
    action: 'zoom-in',
    keys: 'Ctrl+=',
    description: 'Larger terminal font',
    codes: ['Equal', 'NumpadAdd'],
    ctrl: true,
    shift: false,
  },
  {
    action: 'zoom-out',
    keys: 'Ctrl+-',
    description: 'Smaller terminal font',
    codes: ['Minus', 'NumpadSubtract'],
    ctrl: true,
    shift: false,
  },
  {
    action: 'zoom-reset',
    keys: 'Ctrl+0',
    description: 'Default terminal font size',
    codes: ['Digit0', 'Numpad0'],
    ctrl: true,
    shift: false,
  },
  {
    action: 'help',
    keys: 'F1',
    description: 'Show these shortcuts',
    codes: ['F1'],
    ctrl: false,
    shift: false,
  },
];

export interface KeyLike {
  code: string;
  ctrlKey: boolean;
  shiftKey: boolean;
  altKey: boolean;
  metaKey: boolean;
}

/** The action a key press triggers, if any. Cmd counts as Ctrl on macOS. */
export function matchShortcut(event: KeyLike): ShortcutAction | null {
  if (event.altKey) return null;
  const ctrl = event.ctrlKey || event.metaKey;
  for (const s of SHORTCUTS) {
    if (s.codes.includes(event.code) && s.ctrl === ctrl && s.shift === event.shiftKey) return s.action;
  }
  return null;
}
