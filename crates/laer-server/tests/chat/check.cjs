// Checks chat payloads against each product's official library: Slack's Block Kit types
// (@slack/types, by the TypeScript compiler, which refuses a block, field or element the
// types do not know) and Microsoft's Adaptive Cards library (adaptivecards), which parses
// the card Teams would render and reports what it does not understand.
//
//   node check.cjs PAYLOADS.json   (a JSON array of {"kind": "slack"|"teams", "payload": ...})
//
// Prints "ok" or the problems, one per line, and exits 1 on any.
const fs = require("fs");
const os = require("os");
const path = require("path");
const { execFileSync } = require("child_process");

const modules = process.env.NODE_PATH;
const payloads = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const problems = [];

// Slack: each payload as a typed constant; tsc checks it, excess properties included.
const slack = payloads.filter((p) => p.kind === "slack");
if (slack.length > 0) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "laer-slack-"));
  const lines = ['import type { KnownBlock } from "@slack/types";'];
  slack.forEach((p, i) => {
    lines.push(`export const p${i}: { text: string; blocks: KnownBlock[] } = ${JSON.stringify(p.payload)};`);
  });
  fs.writeFileSync(path.join(dir, "payloads.ts"), lines.join("\n") + "\n");
  fs.writeFileSync(
    path.join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        module: "commonjs",
        target: "es2020",
        moduleResolution: "node",
        typeRoots: [],
        baseUrl: ".",
        paths: { "@slack/types": [path.join(modules, "@slack/types")] },
      },
      files: ["payloads.ts"],
    }),
  );
  try {
    execFileSync(process.execPath, [path.join(modules, "typescript/bin/tsc"), "-p", dir], { encoding: "utf8" });
  } catch (e) {
    problems.push(`slack: ${(e.stdout || "") + (e.stderr || "")}`.trim());
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// Teams: the message's card, parsed by the Adaptive Cards library; nothing may be
// unknown to it, and it must read back as sent.
const AC = require(path.join(modules, "adaptivecards/dist/adaptivecards.js"));
payloads
  .filter((p) => p.kind === "teams")
  .forEach((p, i) => {
    const message = p.payload;
    if (message.type !== "message" || !Array.isArray(message.attachments) || message.attachments.length !== 1) {
      problems.push(`teams ${i}: not a message with one attachment`);
      return;
    }
    const attachment = message.attachments[0];
    if (attachment.contentType !== "application/vnd.microsoft.card.adaptive") {
      problems.push(`teams ${i}: contentType ${attachment.contentType}`);
      return;
    }
    const card = new AC.AdaptiveCard();
    const context = new AC.SerializationContext();
    card.parse(attachment.content, context);
    for (let e = 0; e < context.eventCount; e++) {
      problems.push(`teams ${i}: ${context.getEventAt(e).message}`);
    }
    const canonical = (v) =>
      Array.isArray(v)
        ? v.map(canonical)
        : v && typeof v === "object"
          ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]))
          : v;
    const back = JSON.stringify(canonical(card.toJSON()));
    const sent = JSON.stringify(canonical(attachment.content));
    if (back !== sent) {
      problems.push(`teams ${i}: the card reads back otherwise:\n  sent ${sent}\n  read ${back}`);
    }
  });

if (problems.length > 0) {
  console.log(problems.join("\n"));
  process.exit(1);
}
console.log("ok");
