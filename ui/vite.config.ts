import { defineConfig } from 'vitest/config';

// The app is served from `ui/dist` by Tauri (tauri.conf.json `frontendDist`); nothing is
// loaded from the network, so every asset is bundled.
export default defineConfig({
  clearScreen: false,
  build: { outDir: 'dist', target: 'es2022', sourcemap: false, chunkSizeWarningLimit: 2000 },
  server: { port: 1420, strictPort: true },
  test: { environment: 'jsdom', globals: true, include: ['src/**/*.test.{ts,tsx}'], setupFiles: ['src/test-setup.ts'] },
});
