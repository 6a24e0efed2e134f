import { defineConfig } from 'vitest/config';
// The version the app shows (About) is the one Tauri and the bundler use.
import tauri from '../tauri.conf.json' with { type: 'json' };

const { version } = tauri;

// The app is served from `ui/dist` by Tauri (tauri.conf.json `frontendDist`); nothing is
// loaded from the network, so every asset is bundled. `vite build --mode e2e` (npm run
// build:e2e) is the build the end-to-end tests drive: it adds their read-only hooks
// (src/terminal/screens.ts), which the app's own build leaves out.
export default defineConfig(({ mode }) => ({
  clearScreen: false,
  define: {
    __AIRLOCK_TEST_HOOKS__: JSON.stringify(mode === 'e2e'),
    __AIRLOCK_VERSION__: JSON.stringify(version),
  },
  build: { outDir: 'dist', target: 'es2022', sourcemap: false, chunkSizeWarningLimit: 2000 },
  server: { port: 1420, strictPort: true },
  test: {
    environment: 'jsdom',
    globals: true,
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test-setup.ts'],
  },
}));
