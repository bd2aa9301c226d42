// Vite build of the console. The output lands in dist/, which is committed
// and embedded in the `weft` binary (server/src/gateway/console.rs), so the
// server needs no Node.js at run time. Served under /ui/.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  base: "/ui/",
  plugins: [react()],
  resolve: {
    // The SDK is linked from ../sdk-gen/ts; one copy of each runtime library.
    dedupe: ["@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-web", "react", "react-dom"],
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // No source maps: the committed bundle stays small and reproducible.
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 1024,
  },
});
