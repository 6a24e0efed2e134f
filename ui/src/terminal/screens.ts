// Read-only access to what each terminal shows, by tab key: `window.airlockScreens.read(key)`.
// xterm.js draws rows that WebDriver reads unreliably, so the end-to-end tests read the
// terminal's buffer through this instead. It can only read, and it exists only in the build the
// tests use (`npm run build:e2e`); the app's own build (`npm run build`) leaves it out.

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
  /** True only in the end-to-end tests' build (vite.config.ts). */
  const __AIRLOCK_TEST_HOOKS__: boolean;
}

if (__AIRLOCK_TEST_HOOKS__ && typeof window !== 'undefined') window.airlockScreens = screens;
