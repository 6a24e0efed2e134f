// Read-only access to what each terminal shows, by tab key: `window.airlockScreens.read(key)`.
// xterm.js draws rows that WebDriver reads unreliably, so the end-to-end tests (and anyone in
// the web inspector) read the terminal's buffer through this instead. It can only read.

const readers = new Map<string, () => string>();

export function registerScreen(tabKey: string, read: () => string): () => void {
  readers.set(tabKey, read);
  return () => {
    if (readers.get(tabKey) === read) readers.delete(tabKey);
  };
}

export const screens = {
  keys: (): string[] => [...readers.keys()],
  read: (tabKey: string): string | null => readers.get(tabKey)?.() ?? null,
};

declare global {
  interface Window {
    airlockScreens?: typeof screens;
  }
}

if (typeof window !== 'undefined') window.airlockScreens = screens;
