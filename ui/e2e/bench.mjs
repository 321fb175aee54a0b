// Desktop timings in Chromium against the mock server, each beside a
// baseline measured the same way in the same run (issue 11's benchmarks):
//
//   1. navigation → interactive desktop (launcher opens on Ctrl+K), vs a blank
//      page served by the same server;
//   2. launcher Enter → rendered calculator window (its "=" key visible);
//   3. a 10,000-item list scrolled: longest frame;
//   4. the initial JS (gzip) of dist/.
//
//   npm run build && node e2e/bench.mjs [runs=5]
import { readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";
import { createMockServer, TOKEN } from "./mock-server.mjs";

const runs = Number(process.argv[2] ?? 5);
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const server = createMockServer({ requireAuth: false });
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ARGS });

const blank = [];
const desktop = [];
const launch = [];
const frames = [];
for (let i = 0; i < runs; i++) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  // Baseline: a page with nothing but a script that says it is ready.
  await page.route(`${base}/blank.html`, (route) => route.fulfill({ contentType: "text/html", body: "<!doctype html><title>blank</title><script type=module>window.ready=performance.now()</script>" }));
  let t0 = Date.now();
  await page.goto(`${base}/blank.html`);
  await page.waitForFunction(() => window.ready !== undefined);
  blank.push(Date.now() - t0);

  t0 = Date.now();
  await page.goto(`${base}/?token=${TOKEN}`, { waitUntil: "commit" });
  // Interactive = Ctrl+K opens the launcher: press until it does.
  await page.waitForSelector("[data-testid=desktop]");
  for (;;) {
    await page.keyboard.press("Control+k");
    if (await page.getByRole("combobox", { name: "Search apps" }).count()) break;
    await page.waitForTimeout(10);
  }
  desktop.push(Date.now() - t0);

  await page.getByRole("combobox", { name: "Search apps" }).fill("calculator");
  await page.getByRole("option", { name: /Calculator/ }).waitFor();
  const ms = await page.evaluate(
    () =>
      new Promise((resolve) => {
        const start = performance.now();
        const obs = new MutationObserver(() => {
          const win = [...document.querySelectorAll("section[role=dialog]")].find(
            (s) => s.textContent.includes("Calculator") && [...s.querySelectorAll("button")].some((b) => b.textContent === "="),
          );
          if (win) {
            obs.disconnect();
            requestAnimationFrame(() => resolve(performance.now() - start));
          }
        });
        obs.observe(document.body, { childList: true, subtree: true });
        document.activeElement.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
      }),
  );
  launch.push(ms);

  if (i === 0) {
    await page.keyboard.press("Control+k");
    await page.getByRole("combobox", { name: "Search apps" }).fill("gallery");
    await page.keyboard.press("Enter");
    await page.getByRole("tab", { name: "Big list" }).click();
    const list = page.getByRole("listbox", { name: "Ten thousand items" });
    await list.waitFor();
    const worst = await list.evaluate(
      (ul) =>
        new Promise((resolve) => {
          const el = ul.parentElement;
          let last = performance.now();
          let worst = 0;
          let n = 0;
          const step = () => {
            const now = performance.now();
            worst = Math.max(worst, now - last);
            last = now;
            el.scrollTop += 600;
            if (++n < 240) requestAnimationFrame(step);
            else resolve(worst);
          };
          requestAnimationFrame(step);
        }),
    );
    frames.push(worst);
  }
  await ctx.close();
}
await browser.close();
server.close();

const dist = join(import.meta.dirname, "..", "dist");
const html = readFileSync(join(dist, "index.html"), "utf8");
const initial = [...html.matchAll(/src="\/assets\/([^"]+\.js)"/g)].map((m) => m[1]);
const gz = initial.reduce((a, f) => a + gzipSync(readFileSync(join(dist, "assets", f))).length, 0);
const all = readdirSync(join(dist, "assets")).filter((f) => f.endsWith(".js"));

console.log(`runs: ${runs} (medians)`);
console.log(`navigation → interactive desktop: ${median(desktop)} ms   (blank page baseline: ${median(blank)} ms; target < 1000 ms)`);
console.log(`launcher Enter → calculator rendered: ${median(launch).toFixed(1)} ms   (target < 100 ms)`);
console.log(`10,000-item list, 240 scroll frames: longest frame ${frames[0].toFixed(1)} ms   (target ≤ 50 ms)`);
console.log(`initial JS: ${initial.join(", ")} = ${(gz / 1024).toFixed(1)} KiB gzip; ${all.length} JS chunks in all`);
void tmpdir;
