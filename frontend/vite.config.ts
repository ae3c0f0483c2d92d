import { defineConfig } from 'vite';

// During `npm run dev`, API and WebSocket calls are proxied to a running
// stomp-relay node (override with STOMP_RELAY_URL=http://127.0.0.1:8081).
// The Origin header is rewritten to the node's own origin so the node's
// same-origin checks (WebSocket handshake, CORS) accept the proxied calls.
const target = process.env.STOMP_RELAY_URL ?? 'http://127.0.0.1:8080';
const sameOrigin = { origin: new URL(target).origin };

export default defineConfig({
  // Relative asset URLs: the built page works wherever the server mounts it.
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
  },
  server: {
    proxy: {
      '/api': { target, changeOrigin: true, headers: sameOrigin },
      '/ws': { target, ws: true, changeOrigin: true, headers: sameOrigin },
    },
  },
});
