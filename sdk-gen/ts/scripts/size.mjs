// Browser bundle size of the SDK, as the README reports it: esbuild
// --bundle --minify for the browser (gRPC-web transport), then gzip -9.
// Run after `npm run build`: node scripts/size.mjs
import { build } from "esbuild";
import { gzipSync } from "node:zlib";

const entries = {
  "client + streamRun (Weft, one call, one stream)": `
    import { Weft } from "weftflow";
    const weft = new Weft({ baseUrl: location.origin, transport: "grpc-web" });
    const run = await weft.workflows.getRun("wfrun_x");
    for await (const e of weft.workflows.streamRun(run.id)) console.log(e.type);`,
  "client + builder + worker (everything)": `
    import * as sdk from "weftflow";
    console.log(sdk);`,
};

for (const [name, contents] of Object.entries(entries)) {
  const result = await build({
    stdin: { contents, resolveDir: process.cwd(), loader: "js" },
    bundle: true,
    minify: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    write: false,
  });
  const bytes = result.outputFiles[0].contents;
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(`${name}: ${kib(bytes.length)} minified, ${kib(gzipSync(bytes, { level: 9 }).length)} gzipped`);
}
