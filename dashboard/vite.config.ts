/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

// The production build goes straight into the folder monitor-server embeds; it is
// committed, and `npm run check-bundle` fails when it is stale against these sources.
const outDir = fileURLToPath(new URL('../crates/monitor-server/assets/dashboard', import.meta.url));

// `npm run dev` proxies the API to a running server (MONITOR_URL, default :7070).
const target = process.env.MONITOR_URL ?? 'http://127.0.0.1:7070';

export default defineConfig({
  plugins: [react()],
  // Absolute asset paths: the server serves index.html at `/` and as the SPA fallback
  // for deep links, where relative paths would resolve against the deep link.
  base: '/',
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: {
      '/api': { target, changeOrigin: true, ws: true },
      '/healthz': { target },
      '/readyz': { target },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
