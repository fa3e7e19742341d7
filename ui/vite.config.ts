import { defineConfig } from "vite";
import preact from "@preact/preset-vite";

// Served by wharf at /ui; `npm run dev` proxies the API to a wharf on :8080.
export default defineConfig({
  base: "/ui/",
  // The app imports Preact itself; React stays React for the GraphiQL page.
  plugins: [preact({ reactAliasesEnabled: false })],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    // GraphiQL (its own page) is large; the app itself stays small.
    chunkSizeWarningLimit: 2500,
    rollupOptions: { input: { main: "index.html", graphiql: "graphiql.html" } },
  },
  server: {
    proxy: {
      "/graphql": { target: "http://127.0.0.1:8080", ws: true },
      "/ipfs": "http://127.0.0.1:8080",
      "/api": "http://127.0.0.1:8080",
      "/compute": "http://127.0.0.1:8080",
    },
  },
});
