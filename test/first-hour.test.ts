// What a new user trips over in the first hour (issue 18 item 8), pinned: the help's defaults,
// sizes in logs, non-archive bodies described as what they are.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeNonArchive } from "../src/archive/detect.ts";
import { helpText } from "../src/cli/config.ts";
import { bytesField, formatLine } from "../src/log.ts";
import { formatBytes } from "../src/units.ts";

describe("--help", () => {
  const help = helpText("0.0.0");
  it("says the running user for --uid/--gid, never the internal -1", () => {
    assert.doesNotMatch(help, /default: -1/);
    assert.match(help, /--uid .*\[default: the running user\]/);
    assert.match(help, /--gid .*\[default: the running user's group\]/);
  });
  it("says retries count rounds, as the README and the log do", () => {
    assert.match(help, /--retries .*failed rounds in a row before giving up/);
    assert.doesNotMatch(help, /failed attempts in a row/);
  });
});

describe("sizes in logs", () => {
  it("a fractional byte count (a rate) is whole bytes, not 16 decimals", () => {
    assert.equal(formatBytes(512.3456789012345), "512 B");
    assert.equal(bytesField(1000.4, true).text, "1000 B/s");
    assert.equal(bytesField(3 * 1024 * 1024 + 0.5, true).text, "3.00 MiB/s");
  });
  it("text shows the human size; JSON the number of bytes and the human size beside it", () => {
    const fields = { package: bytesField(12_700_000), files: 3 };
    const now = new Date(0);
    assert.match(formatLine("text", "info", "installed", fields, now), / installed package="12.1 MiB" files=3$/);
    const o = JSON.parse(formatLine("json", "info", "installed", fields, now));
    assert.deepEqual({ package: o.package, packageHuman: o.packageHuman, files: o.files }, { package: 12_700_000, packageHuman: "12.1 MiB", files: 3 });
  });
});

describe("a body that is not an archive", () => {
  const say = (s: string) => describeNonArchive(Buffer.from(s));
  it("JSON objects and arrays are JSON", () => {
    for (const s of ['{"error":"not found"}', "{}", '  [{"a":1}]', "[1, 2]", '["x"]', "[]", "[true]", "[[1]]", "[\n  null\n]"]) assert.match(say(s), /looks like JSON/, s);
  });
  it("Markdown, an INI section, a template are text, not JSON", () => {
    for (const s of ["[![build](https://ci/badge.svg)](https://ci)\n# Project", "[link text](http://x)", "[Unit]\nDescription=x", "[[servers]]\nname = 'a'", "{{ .Values.x }}", "# Title\n"]) {
      assert.doesNotMatch(say(s), /JSON/, s);
      assert.match(say(s), /plain text/, s);
    }
  });
  it("binary stays described by its first bytes", () => {
    assert.equal(describeNonArchive(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0])), "the body starts with bytes 7f454c4602010100");
  });
});
