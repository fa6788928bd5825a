// Builds the console into the Python package, where `sightline serve` serves it at /.
import vue from "@vitejs/plugin-vue";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [vue()],
  base: "/",
  // vue-i18n's compile-time flags: Composition API only, no devtools hooks in production.
  define: {
    __VUE_I18N_FULL_INSTALL__: "true",
    __VUE_I18N_LEGACY_API__: "false",
    __INTLIFY_PROD_DEVTOOLS__: "false",
  },
  build: {
    outDir: "../src/sightline/web/console", // relative to this directory (the Vite root)
    emptyOutDir: true,
    assetsDir: "assets",
    chunkSizeWarningLimit: 800,
  },
  server: {
    // `npm run dev` against a running `sightline serve` on the default port.
    proxy: { "/api": { target: "http://127.0.0.1:8080", ws: true } },
  },
});
