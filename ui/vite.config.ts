import { defineConfig } from "vite";
import preact from "@preact/preset-vite";

// Served by wharf at /ui; `npm run dev` proxies the API to a wharf on :8080.
export default defineConfig({
  base: "/ui/",
  plugins: [preact()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false },
  server: {
    proxy: {
      "/graphql": { target: "http://127.0.0.1:8080", ws: true },
      "/ipfs": "http://127.0.0.1:8080",
      "/api": "http://127.0.0.1:8080",
      "/compute": "http://127.0.0.1:8080",
    },
  },
});
