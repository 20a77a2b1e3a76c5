// Checks the registry's live topology page in Debian's headless Chromium (driven by playwright-core, no browser
// download). Protocol on stdout, one JSON object per line:
//   {"event":"rendered", ...}  three nodes and at least two links are drawn (screenshot topology-rendered.png)
// then it reads one line on stdin, a node id, and waits for that node to turn offline on the same page:
//   {"event":"offline", ...}   its circle changed colour without a reload (screenshot topology-offline.png)
// Usage: node topology-check.mjs <registry url> <screenshot dir> [timeout seconds]
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const [url, shots, timeoutText] = process.argv.slice(2);
const timeout = Number(timeoutText || 90) * 1000;
const profile = mkdtempSync(join(tmpdir(), "p2pstack-chromium-"));
const say = (message) => process.stdout.write(JSON.stringify(message) + "\n");
let context;

async function main() {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1000, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  const page = context.pages()[0] ?? await context.newPage();
  const consoleErrors = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  let navigations = 0;
  page.on("framenavigated", (frame) => { if (frame === page.mainFrame()) navigations++; });

  await page.goto(new URL("/ui/", url).toString(), { waitUntil: "load", timeout });
  await page.waitForFunction(() =>
    document.querySelectorAll("#nodes g[data-node-id]").length === 3
    && document.querySelectorAll("#links line[data-link]").length >= 2
    && [...document.querySelectorAll("#nodes g[data-node-id]")].every((g) => g.dataset.status === "active")
    && [...document.querySelectorAll("#link-labels text")].some((t) => / ms$/.test(t.textContent)),
    null, { timeout, polling: 200 });
  await page.evaluate(() => { window.__sameDocument = "marker"; });
  const fill = (id) => page.evaluate((nodeId) => {
    const circle = document.querySelector(`#nodes g[data-node-id="${nodeId}"] circle`);
    return circle ? getComputedStyle(circle).fill : null;
  }, id);
  const nodes = await page.$$eval("#nodes g[data-node-id]", (gs) => gs.map((g) => ({ id: g.dataset.nodeId, status: g.dataset.status })));
  const links = await page.$$eval("#links line[data-link]", (ls) => ls.map((l) => l.dataset.link));
  const rtts = await page.$$eval("#link-labels text", (ts) => ts.map((t) => t.textContent));
  const rows = await page.$$eval("#node-table tbody tr", (rs) => rs.length);
  const live = await page.$eval("#live", (e) => e.dataset.state);
  await page.screenshot({ path: join(shots, "topology-rendered.png"), fullPage: true });
  const colours = {};
  for (const n of nodes) colours[n.id] = await fill(n.id);
  say({ event: "rendered", nodes, links, rtts, rows, live, colours });

  const input = createInterface({ input: process.stdin });
  const watched = (await input[Symbol.asyncIterator]().next()).value.trim();
  const before = await fill(watched);
  await page.waitForFunction((nodeId) => {
    const g = document.querySelector(`#nodes g[data-node-id="${nodeId}"]`);
    return g && g.dataset.status === "offline";
  }, watched, { timeout, polling: 200 });
  const after = await fill(watched);
  const sameDocument = await page.evaluate(() => window.__sameDocument === "marker");
  await page.screenshot({ path: join(shots, "topology-offline.png"), fullPage: true });
  say({ event: "offline", node: watched, before, after, sameDocument, navigations, consoleErrors });
}

try {
  await main();
  process.exitCode = 0;
} catch (error) {
  say({ event: "error", message: String(error && error.stack || error) });
  process.exitCode = 1;
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
