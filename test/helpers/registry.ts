// Real Distribution registries (Debian's docker-registry) on loopback, optionally behind
// htpasswd auth, started and stopped by the tests.

import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { tmpdir } from "./run.ts";

export interface Registry {
  host: string;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function startRegistry(auth?: { user: string; password: string }): Promise<Registry> {
  const dir = tmpdir("dp-registry-");
  const port = await freePort();
  let authBlock = "";
  if (auth) {
    // htpasswd -B reads the password from stdin (-i): it never appears in ps.
    execFileSync("htpasswd", ["-B", "-i", "-c", path.join(dir, "htpasswd"), auth.user], { input: auth.password, stdio: ["pipe", "ignore", "ignore"] });
    authBlock = `auth:\n  htpasswd:\n    realm: test\n    path: ${dir}/htpasswd\n`;
  }
  fs.writeFileSync(path.join(dir, "config.yml"), `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${authBlock}`);
  const child: ChildProcess = spawn("docker-registry", ["serve", path.join(dir, "config.yml")], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((r) => {
      const s = net.connect(port, "127.0.0.1", () => (s.destroy(), r(true)));
      s.on("error", () => r(false));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        child.once("exit", () => r());
        child.kill();
      }),
  };
}
