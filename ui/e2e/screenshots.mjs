// Screenshots of the desktop as a user first sees it, to look at with fresh eyes:
// the desktop, the launcher, every system app and the prebuilt Blueprint apps, at
// 1280×720 and 1920×1080. Not a test: it asserts nothing but that each window opened.
//
//   AGENTOS_LOGIN_URL=http://127.0.0.1:PORT/?token=... OUT=/tmp/shots node e2e/screenshots.mjs
//
// (`agentos --data-dir D up --port 0 --apps-dir apps --ui-dir ui/dist` prints the URL.)

import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { chromium } from "playwright-core";

const loginUrl = process.env.AGENTOS_LOGIN_URL;
const out = process.env.OUT || "screenshots";
if (!loginUrl) {
  console.error("screenshots: AGENTOS_LOGIN_URL is required");
  process.exit(2);
}
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
/** What to open from the launcher, and the window title it gets. */
const APPS = [
  ["files", "Files"],
  ["terminal", "Terminal"],
  ["task manager", "Task Manager"],
  ["system monitor", "System Monitor"],
  ["settings", "Settings"],
  ["app store", "App Store"],
  ["calculator", "Calculator"],
  ["notes", "Notes"],
  ["todo", "Todo List"],
  ["timer", "Timer"],
  ["app hub", "App Hub"],
];

await mkdir(out, { recursive: true });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ARGS });
// One context: the login URL is good once, its cookie then serves every page.
const context = await browser.newContext();
try {
  const login = await context.newPage();
  await login.goto(loginUrl);
  await login.getByRole("button", { name: "Calculator" }).first().waitFor({ timeout: 20_000 });
  await login.close();
  for (const [width, height] of [
    [1280, 720],
    [1920, 1080],
  ]) {
    const page = await context.newPage();
    await page.setViewportSize({ width, height });
    page.setDefaultTimeout(20_000);
    await page.goto(new URL("/", loginUrl).href);
    await page.getByRole("button", { name: "Calculator" }).first().waitFor();
    await page.waitForTimeout(1500);
    const shot = (name) => page.screenshot({ path: join(out, `${width}x${height}-${name}.png`) });
    await shot("desktop");
    await page.keyboard.press("Control+k");
    await page.getByRole("combobox", { name: "Search apps" }).waitFor();
    await page.waitForTimeout(500);
    await shot("launcher");
    await page.keyboard.press("Escape");
    for (const [query, title] of APPS) {
      await page.keyboard.press("Control+k");
      await page.getByRole("combobox", { name: "Search apps" }).fill(query);
      await page.keyboard.press("Enter");
      const win = page.getByRole("dialog", { name: title, exact: true }).last();
      try {
        await win.waitFor();
      } catch {
        console.log(`no window "${title}" for "${query}"`);
        continue;
      }
      await page.waitForTimeout(2500);
      // Alone on the screen, at the size and place it opens with.
      await shot(query.replace(/\s+/g, "-"));
      await win.getByRole("button", { name: "Close" }).dispatchEvent("click");
    }
    // Several windows at once, as the cascade places them; the task manager with a
    // process to show (a shell left running) and the page's own apps.
    for (const query of ["files", "settings", "terminal", "task manager"]) {
      await page.keyboard.press("Control+k");
      await page.getByRole("combobox", { name: "Search apps" }).fill(query);
      await page.keyboard.press("Enter");
    }
    await page.getByRole("button", { name: /^Kill process: / }).first().waitFor();
    await page.waitForTimeout(2500);
    await shot("task-manager-running");
    await page.getByRole("dialog", { name: "Task Manager", exact: true }).getByRole("button", { name: "Minimize" }).click();
    await page.waitForTimeout(500);
    await shot("cascade");
    await page.close();
  }
} finally {
  await browser.close();
}
console.log(`screenshots in ${out}`);
