// Drives page.js (bundled as page.bundle.js by build.mjs) in Debian's headless chromium through playwright-core (no
// browser download). Serves the page on 127.0.0.1 (a free port), opens it with the host address and swarm key, and
// speaks JSON lines: it prints {"event":"ready","peerId":...} once the page has joined, then answers one command per
// stdin line:
//   {"cmd":"members","peers":[ids]}   waits until the page's member table holds exactly these -> {"event":"members","elapsedMs"}
//   {"cmd":"gone","peer":id}          waits until the page dropped it -> {"event":"gone","reason":"left"|"expired","elapsedMs"}
//   {"cmd":"send","text":t}           publishes a thought to the swarm -> {"event":"sent","id"}
//   {"cmd":"received","text":t}       waits for a thought with this text -> {"event":"received","from"}
//   {"cmd":"direct","peer":id,"text":t} sends a direct thought to a peer through the host -> {"event":"sent","id"}
//   {"cmd":"directReceived","text":t} waits for a direct thought to the page with this text -> {"event":"directReceived","from"}
//   {"cmd":"reload"}                  reloads the page and waits for it to join again -> {"event":"ready","peerId"}
//   {"cmd":"screenshot","name":n}     -> {"event":"screenshot","path"}
// Usage: node swarm-check.mjs <host /ws or /wss multiaddr with /p2p> <swarm key> <announce interval ms> <screenshot dir>
//        [timeout s] [cert.pem key.pem]
// With a certificate and key the page is served over https (as a page that must use /wss), and chromium accepts the
// test's self-signed certificate (--ignore-certificate-errors) for the page and the host's /wss alike.
import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const [host, swarm, interval, shots, timeoutText, certPath, keyPath] = process.argv.slice(2);
const tls = certPath && keyPath ? { cert: readFileSync(certPath), key: readFileSync(keyPath) } : null;
const timeout = Number(timeoutText || 120) * 1000;
const say = (m) => process.stdout.write(JSON.stringify(m) + "\n");
const here = new URL(".", import.meta.url).pathname;
const files = { "/": ["index.html", "text/html"], "/page.bundle.js": ["page.bundle.js", "text/javascript"] };
const serve = (req, res) => {
  const file = files[new URL(req.url, "http://x").pathname];
  if (!file) { res.writeHead(404).end(); return; }
  res.writeHead(200, { "content-type": file[1] }).end(readFileSync(join(here, file[0])));
};
const server = tls ? createHttpsServer(tls, serve) : createServer(serve);
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const url = `${tls ? "https" : "http"}://127.0.0.1:${server.address().port}/?host=${encodeURIComponent(host)}&swarm=${encodeURIComponent(swarm)}&interval=${interval}`;
const profile = mkdtempSync(join(tmpdir(), "p2pstack-chromium-"));
let context;

async function ready(page) {
  await page.waitForFunction(() => window.swarm && (window.swarm.ready || window.swarm.errors.length > 0), null, { timeout, polling: 50 });
  const s = await page.evaluate(() => ({ ready: window.swarm.ready, peerId: window.swarm.peerId, errors: window.swarm.errors }));
  if (!s.ready) throw new Error("the page did not join: " + s.errors.join("; "));
  say({ event: "ready", peerId: s.peerId });
}

async function main() {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", ...(tls ? ["--ignore-certificate-errors"] : [])],
    ignoreHTTPSErrors: !!tls,
  });
  const page = context.pages()[0] ?? await context.newPage();
  const consoleErrors = [];
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.goto(url, { waitUntil: "load", timeout });
  await ready(page);
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const cmd = JSON.parse(line);
    const started = Date.now();
    if (cmd.cmd === "members") {
      await page.waitForFunction((peers) => {
        const have = Object.keys(window.swarm.members).sort();
        return JSON.stringify(have) === JSON.stringify([...peers].sort());
      }, cmd.peers, { timeout, polling: 20 });
      say({ event: "members", elapsedMs: Date.now() - started });
    } else if (cmd.cmd === "gone") {
      await page.waitForFunction((peer) => !(peer in window.swarm.members), cmd.peer, { timeout, polling: 20 });
      const reason = await page.evaluate((peer) => window.swarm.events.filter((e) => e.peer === peer && e.kind === "left").at(-1)?.reason, cmd.peer);
      say({ event: "gone", reason, elapsedMs: Date.now() - started });
    } else if (cmd.cmd === "send") {
      say({ event: "sent", id: await page.evaluate((text) => window.swarm.send(text), cmd.text) });
    } else if (cmd.cmd === "received") {
      await page.waitForFunction((text) => window.swarm.received.some((r) => r.text === text), cmd.text, { timeout, polling: 20 });
      say({ event: "received", from: await page.evaluate((text) => window.swarm.received.find((r) => r.text === text).from, cmd.text) });
    } else if (cmd.cmd === "direct") {
      say({ event: "sent", id: await page.evaluate(([peer, text]) => window.swarm.sendDirect(peer, text), [cmd.peer, cmd.text]) });
    } else if (cmd.cmd === "directReceived") {
      await page.waitForFunction((text) => window.swarm.direct.some((r) => r.text === text), cmd.text, { timeout, polling: 20 });
      say({ event: "directReceived", from: await page.evaluate((text) => window.swarm.direct.find((r) => r.text === text).from, cmd.text) });
    } else if (cmd.cmd === "reload") {
      await page.reload({ waitUntil: "load", timeout });
      await ready(page);
    } else if (cmd.cmd === "screenshot") {
      const path = join(shots, cmd.name);
      await page.screenshot({ path, fullPage: true });
      say({ event: "screenshot", path });
    } else if (cmd.cmd === "quit") {
      const errors = await page.evaluate(() => window.swarm.errors);
      say({ event: "quit", errors, consoleErrors });
      return;
    }
  }
}

try {
  await main();
  process.exitCode = 0;
} catch (error) {
  say({ event: "error", message: String(error && error.stack || error) });
  process.exitCode = 1;
} finally {
  if (context) await context.close().catch(() => {});
  server.close();
  rmSync(profile, { recursive: true, force: true });
  process.exit();
}
