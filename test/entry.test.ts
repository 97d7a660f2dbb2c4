// The process ends only after stdout has taken everything: a slow reader of a large listing
// must get every byte (the exit timer once cut piped output at 64 KiB).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { cleanEnv, command } from "./helpers/run.ts";

describe("exit", () => {
  it("a slow reader of a large images list gets all of it", { timeout: 60_000 }, async () => {
    const refs = Array.from({ length: 3000 }, (_, i) => `registry.example.internal/team/app-${i}:1.${i}`);
    const [cmd, args] = command(["images", "list", ...refs.flatMap((r) => ["--image", r])]);
    const child = spawn(cmd, args, { env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.pause(); // read nothing for a while: the pipe fills up and the writer waits
    await new Promise((r) => setTimeout(r, 1500));
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stdout.resume();
    const code = await new Promise<number | null>((r) => child.on("close", r));
    assert.equal(code, 0);
    assert.ok(out.length > 128 * 1024, `only ${out.length} bytes`);
    for (const r of [refs[0], refs[1500], refs[2999]]) assert.ok(out.includes(r), `${r} missing`);
  });
});
