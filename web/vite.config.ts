import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const target = process.env.VIGILO_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      '/api/': { target, changeOrigin: true },
      '/socket.io': { target, changeOrigin: true, ws: true },
    },
  },
  preview: {
    proxy: {
      '/api/': { target, changeOrigin: true },
      '/socket.io': { target, changeOrigin: true, ws: true },
    },
  },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 700,
    // Read by `npm run size` (the initial JavaScript of the overview).
    manifest: true,
  },
});
