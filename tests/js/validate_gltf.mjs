// Validate one .glb/.gltf file with the Khronos glTF Validator and print its JSON report.
// Usage: node validate_gltf.mjs path/to/asset.glb
// Exit status: 0 when a report was printed (even with issues), 2 on bad usage or a crash.
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { validateBytes } from "gltf-validator";

const assetPath = process.argv[2];
if (!assetPath || process.argv.length > 3) {
  console.error("usage: node validate_gltf.mjs ASSET.glb");
  process.exit(2);
}

try {
  const report = await validateBytes(new Uint8Array(readFileSync(assetPath)), {
    uri: basename(assetPath),
    maxIssues: 0,
    writeTimestamp: false,
    // Resolve external URIs (.gltf + .bin/.png) relative to the asset so they get checked too.
    externalResourceFunction: async (uri) =>
      new Uint8Array(await readFile(resolve(dirname(assetPath), decodeURIComponent(uri)))),
  });
  process.stdout.write(JSON.stringify(report, null, 2) + "\n");
} catch (error) {
  console.error(`gltf-validator failed on ${assetPath}: ${error}`);
  process.exit(2);
}
