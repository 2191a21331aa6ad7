import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// Served by the service itself under /demo/ (DEMO_MODE=true); the packages are bundled from source.
export default defineConfig({
  base: '/demo/',
  resolve: {
    alias: {
      '@switchboard/client': here('../../client/src/index.ts'),
      '@switchboard/react': here('../../react/src/index.tsx'),
    },
  },
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1000 },
  server: { proxy: { '/demo/api': 'http://127.0.0.1:5050', '/api': 'http://127.0.0.1:5050', '/ws': { target: 'ws://127.0.0.1:5050', ws: true }, '/chat': { target: 'ws://127.0.0.1:5050', ws: true } } },
});
