// npm start: run download-package against PACKAGE_URL, or, when none is given, against a
// small sample package served on 127.0.0.1, into PACKAGE_DEST (default ./demo-output).
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { create } from "tar";

const root = path.resolve(import.meta.dirname, "..");
const env = { ...process.env, PACKAGE_DEST: process.env.PACKAGE_DEST || path.join(root, "demo-output") };
let server;
if (!env.PACKAGE_URL) {
  const src = fs.mkdtempSync(path.join(os.tmpdir(), "dp-sample-"));
  fs.mkdirSync(path.join(src, "config"));
  fs.writeFileSync(path.join(src, "config/app.yaml"), "greeting: hello from the sample package\n");
  fs.writeFileSync(path.join(src, "run.sh"), "#!/bin/sh\necho sample\n", { mode: 0o755 });
  const file = path.join(src, "..", `${path.basename(src)}.tar.gz`);
  await create({ gzip: true, file, cwd: src, portable: true }, ["."]);
  const body = fs.readFileSync(file);
  server = http.createServer((_req, res) => res.writeHead(200, { "content-length": body.length }).end(body));
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  env.PACKAGE_URL = `http://127.0.0.1:${server.address().port}/sample.tar.gz`;
  console.error(`no PACKAGE_URL given: serving a sample package at ${env.PACKAGE_URL}`);
}
const child = spawn(process.execPath, [path.join(root, "dist/download-package.cjs"), ...process.argv.slice(2)], { env, stdio: "inherit" });
child.on("close", (code) => {
  server?.close();
  if (code === 0) console.error(`done: the package is in ${env.PACKAGE_DEST}`);
  process.exit(code ?? 1);
});
