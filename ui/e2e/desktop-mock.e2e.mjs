// The desktop in a real browser against e2e/mock-server.mjs (started here,
// on a free port), so it runs without `agentos up`. Selects by role and
// accessible name; keeps a screenshot per step.
//
//   npm run build && node e2e/desktop-mock.e2e.mjs
//   [E2E_SHOTS=/tmp/agentos-desktop-shots] [CHROMIUM=/usr/bin/chromium]
//
// Prints one ok/FAIL line per check and a last line "N passed, M failed".

import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { createMockServer, TOKEN } from "./mock-server.mjs";

const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const shots = process.env.E2E_SHOTS || join(tmpdir(), "agentos-desktop-shots");
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const T = 15_000;

const watchdog = setTimeout(() => {
  console.log("0 passed, 1 failed (watchdog)");
  process.exit(1);
}, 180_000);
watchdog.unref();

function assert(c, m) {
  if (!c) throw new Error(m);
}

async function main() {
  await mkdir(shots, { recursive: true });
  const server = createMockServer();
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${server.address().port}`;
  const profile = await mkdtemp(join(tmpdir(), "agentos-e2e-mock-"));
  const context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: ARGS, viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(T);
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const shot = async (name) => page.screenshot({ path: join(shots, `${name}.png`) });
  const win = (name) => page.getByRole("dialog", { name, exact: true });

  let passed = 0;
  let failed = 0;
  const check = async (name, fn) => {
    try {
      await fn();
      passed++;
      console.log(`ok   ${name}`);
    } catch (e) {
      failed++;
      await page.screenshot({ path: join(shots, `FAIL-${passed + failed}.png`) }).catch(() => {});
      console.log(`FAIL ${name}: ${String(e?.message ?? e).split("\n")[0]}`);
    }
  };

  await check("without a session the page says to open the login URL", async () => {
    await page.goto(`${base}/`);
    const notice = page.getByRole("alertdialog", { name: "Sign in to AgentOS" });
    await notice.waitFor();
    assert((await notice.textContent()).includes("agentos up"), "notice does not mention agentos up");
    await page.getByTestId("doctor-io_uring").waitFor();
    await shot("01-signed-out");
  });

  await check("the login URL signs in and removes the token from the address bar", async () => {
    await page.goto(`${base}/?token=${TOKEN}`);
    await page.getByRole("list", { name: "Desktop icons" }).getByRole("button", { name: "Calculator", exact: true }).waitFor();
    assert(!page.url().includes("token="), `token still in URL: ${page.url()}`);
    assert((await page.getByRole("alertdialog", { name: "Sign in to AgentOS" }).count()) === 0, "sign-in notice still shown");
    await shot("02-desktop");
  });

  await check("Ctrl+K opens the launcher; typing and Enter launch the calculator", async () => {
    await page.keyboard.press("Control+k");
    const box = page.getByRole("combobox", { name: "Search apps" });
    await box.waitFor();
    await box.fill("calc");
    await shot("03-launcher");
    await page.keyboard.press("Enter");
    await win("Calculator").waitFor();
  });

  await check("calculator: 7 × 6 = reads 42; 8 ÷ 0 = says division by zero", async () => {
    const calc = win("Calculator");
    for (const k of ["7", "×", "6", "="]) await calc.getByRole("button", { name: k, exact: true }).click();
    const display = calc.getByLabel("Display");
    await page.waitForFunction(() => document.querySelector("[aria-label=Display]")?.value === "42");
    assert((await display.inputValue()) === "42", `display shows ${await display.inputValue()}`);
    await shot("04-calculator-42");
    await calc.getByRole("button", { name: "C", exact: true }).click();
    for (const k of ["8", "÷", "0", "="]) await calc.getByRole("button", { name: k, exact: true }).click();
    await calc.getByRole("alert").filter({ hasText: "division by zero" }).waitFor();
    await shot("05-division-by-zero");
  });

  await check("dragging a window to the left edge snaps it to the left half, with a preview", async () => {
    const calc = win("Calculator");
    const bar = calc.locator("header");
    const b = await bar.boundingBox();
    await page.mouse.move(b.x + b.width / 2, b.y + 15);
    await page.mouse.down();
    await page.mouse.move(300, 400, { steps: 5 });
    await page.mouse.move(2, 400, { steps: 5 });
    await page.getByTestId("snap-preview").waitFor();
    await shot("06-snap-preview");
    await page.mouse.up();
    const r = await calc.boundingBox();
    const vp = page.viewportSize();
    assert(Math.abs(r.x) <= 1 && Math.abs(r.width - vp.width / 2) <= 2, `calculator at ${JSON.stringify(r)}`);
    await shot("07-snapped-left");
  });

  await check("a window resizes from its bottom-right corner and not below its minimum", async () => {
    await page.getByRole("navigation", { name: "Dock" }).getByRole("button", { name: "Settings" }).click();
    const s = win("Settings");
    await s.waitFor();
    const before = await s.boundingBox();
    const handle = s.locator("[data-edge=se]");
    const h = await handle.boundingBox();
    await page.mouse.move(h.x + h.width / 2, h.y + h.height / 2);
    await page.mouse.down();
    await page.mouse.move(h.x + h.width / 2 + 80, h.y + h.height / 2 + 40, { steps: 4 });
    await page.mouse.up();
    const after = await s.boundingBox();
    assert(Math.round(after.width - before.width) === 80 && Math.round(after.height - before.height) === 40, `${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
    const h2 = await handle.boundingBox();
    await page.mouse.move(h2.x + 5, h2.y + 5);
    await page.mouse.down();
    await page.mouse.move(h2.x - 2000, h2.y - 2000, { steps: 4 });
    await page.mouse.up();
    const small = await s.boundingBox();
    assert(small.width >= 380 && small.height >= 300, `below minimum: ${JSON.stringify(small)}`);
  });

  await check("Ctrl+M minimises; the dock restores", async () => {
    await win("Settings").click({ position: { x: 200, y: 100 } });
    await page.keyboard.press("Control+m");
    await win("Settings").waitFor({ state: "hidden" });
    await shot("08-minimised");
    await page.getByRole("navigation", { name: "Dock" }).getByRole("button", { name: "Settings, running" }).click();
    await win("Settings").waitFor();
  });

  await check("Alt+Tab shows the switcher and switches to the previous window", async () => {
    await page.keyboard.down("Alt");
    await page.keyboard.press("Tab");
    await page.getByRole("dialog", { name: "Switch windows" }).waitFor();
    await shot("09-alt-tab");
    await page.keyboard.up("Alt");
    await page.getByTestId("menubar-app").filter({ hasText: "Calculator" }).waitFor();
  });

  await check("window geometry reached the API (POST /api/apps/{id}/window)", async () => {
    await page.waitForTimeout(600);
    const apps = await page.evaluate(async () => (await fetch("/api/apps")).json());
    const calc = apps.find((a) => a.app_id === "calculator");
    assert(calc?.window?.x === 0 && calc.window.width === 640 && calc.window.state === "normal", `server has ${JSON.stringify(calc?.window)}`);
  });

  await check("terminal: echo hello comes back, exit 3 shows the exit code", async () => {
    await page.getByRole("navigation", { name: "Dock" }).getByRole("button", { name: "Terminal" }).click();
    const term = win("Terminal");
    await term.waitFor();
    await term.locator(".xterm-helper-textarea").waitFor({ state: "attached" });
    await page.waitForFunction(() => document.querySelector(".xterm-rows")?.textContent?.includes("$"));
    await page.keyboard.type("echo hello\r");
    await page.waitForFunction(() => /hello[\s\S]*hello/.test(document.querySelector(".xterm-rows")?.textContent ?? ""));
    await page.keyboard.type("exit 3\r");
    await term.getByRole("status").filter({ hasText: "exited with code 3" }).waitFor();
    await shot("10-terminal");
  });

  await check("a denied read shows a banner in the app's window; Allow once lets it through", async () => {
    // A second terminal, from the launcher (the first one's shell has exited).
    await page.keyboard.press("Control+k");
    await page.getByRole("combobox", { name: "Search apps" }).fill("terminal");
    await page.keyboard.press("Enter");
    const live = page.getByRole("dialog", { name: "Terminal", exact: true }).filter({ has: page.getByRole("status").filter({ hasText: /^Running/ }) });
    await live.waitFor();
    await page.waitForFunction(() => document.activeElement?.classList.contains("xterm-helper-textarea"));
    await page.keyboard.type("cat /secret\r");
    const banner = live.getByRole("alert").filter({ hasText: "no read grant for /secret" });
    await banner.waitFor();
    await shot("10b-denial");
    await banner.getByRole("button", { name: "Allow once" }).click();
    await banner.waitFor({ state: "detached" });
    await live.locator(".xterm-helper-textarea").focus();
    await page.keyboard.type("cat /secret\r");
    await live.locator(".xterm-rows").filter({ hasText: "top secret" }).waitFor();
  });

  await check("task manager lists the shell's process with its memory", async () => {
    await page.getByRole("navigation", { name: "Dock" }).getByRole("button", { name: "Task Manager" }).click();
    const tm = win("Task Manager");
    await tm.getByRole("cell", { name: /3\.0 MiB/ }).first().waitFor();
    await shot("11-task-manager");
  });

  await check("system monitor charts CPU and memory per app and shows the doctor report", async () => {
    await page.getByRole("navigation", { name: "Dock" }).getByRole("button", { name: /^System Monitor/ }).click();
    const mon = win("System Monitor");
    await mon.getByTestId("doctor-io_uring").waitFor();
    await mon.getByRole("img", { name: /^Memory \(cgroup, current\): .*3\.0 MiB/ }).waitFor();
    await page.waitForTimeout(4500);
    await shot("11b-system-monitor");
    await mon.getByRole("button", { name: "Close" }).click();
  });

  await check("file manager creates a folder and renames it", async () => {
    await page.getByRole("navigation", { name: "Dock" }).getByRole("button", { name: "Files" }).click();
    const fm = win("Files");
    await fm.getByRole("button", { name: "New folder" }).click();
    await fm.getByRole("textbox", { name: "Folder name" }).fill("projects");
    await page.keyboard.press("Enter");
    await fm.getByRole("row", { name: /projects/ }).waitFor();
    await fm.getByRole("row", { name: /projects/ }).click();
    await fm.getByRole("button", { name: "Rename" }).click();
    await fm.getByRole("textbox", { name: "New name" }).fill("work");
    await page.keyboard.press("Enter");
    await fm.getByRole("row", { name: /work/ }).waitFor();
    await shot("12-files");
  });

  await check("the launcher generates an app from a sentence, streamed in", async () => {
    await page.keyboard.press("Control+k");
    await page.getByRole("combobox", { name: "Search apps" }).fill("a pomodoro timer");
    await page.keyboard.press("Enter");
    await win("Generated app").getByRole("button", { name: "=", exact: true }).waitFor();
    await shot("13-generated");
  });

  await check("the component gallery shows every kind of component and its failures", async () => {
    await page.keyboard.press("Control+k");
    await page.getByRole("combobox", { name: "Search apps" }).fill("gallery");
    await page.keyboard.press("Enter");
    const g = win("Component Gallery");
    await g.getByRole("tab", { name: "Display" }).click();
    await g.getByRole("alert").filter({ hasText: 'Unknown component type "sparkline"' }).waitFor();
    await g.getByText("Charts are not supported here (fallback).").waitFor();
    await shot("14-gallery-display");
    await g.getByRole("tab", { name: "Big list" }).click();
    const list = g.getByRole("listbox", { name: "Ten thousand items" });
    await list.waitFor();
    const rows = await list.getByRole("option").count();
    assert(rows < 60, `${rows} rows in the DOM`);
    await shot("15-gallery-list");
  });

  await check("a native web app module served by the server opens in a window with its context", async () => {
    await page.keyboard.press("Control+k");
    await page.getByRole("combobox", { name: "Search apps" }).fill("hello");
    await page.keyboard.press("Enter");
    const hello = win("Hello");
    await hello.getByText(/Hello from a native web app \(instance app-\d+\)/).waitFor();
    await hello.getByRole("button", { name: "Clicked 0 times" }).click();
    await hello.getByRole("button", { name: "Clicked 1 times" }).waitFor();
    await hello.getByRole("button", { name: "Close" }).click();
  });

  await check("save the workspace, reload, restore: the calculator comes back where it was", async () => {
    const before = await win("Calculator").boundingBox();
    await page.getByRole("button", { name: "AgentOS menu" }).click();
    await page.getByRole("menuitem", { name: "Save workspace" }).click();
    await page.getByRole("status").filter({ hasText: "Workspace saved" }).waitFor();
    // Everything closed on the server side, as after a restart of both daemons, then a fresh page.
    await page.evaluate(async () => {
      const apps = await (await fetch("/api/apps")).json();
      await Promise.all(apps.map((a) => fetch(`/api/apps/${a.id}`, { method: "DELETE" })));
    });
    await page.reload();
    await page.getByTestId("system-status").waitFor();
    assert((await page.getByRole("dialog", { name: "Calculator", exact: true }).count()) === 0, "calculator still open after reload");
    await page.getByRole("button", { name: "AgentOS menu" }).click();
    await page.getByRole("menuitem", { name: "Restore workspace" }).click();
    const calc = win("Calculator");
    await calc.waitFor();
    const after = await calc.boundingBox();
    assert(Math.abs(after.x - before.x) <= 1 && Math.abs(after.y - before.y) <= 1 && Math.abs(after.width - before.width) <= 1, `${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
    const shown = await calc.getByLabel("Display").inputValue();
    assert(shown === "8/0", `the calculator's display was not restored: "${shown}"`);
    await shot("16-restored");
  });

  await check("axe finds no accessibility violations with the apps open", async () => {
    for (const name of ["calc", "gallery", "task manager", "files", "system monitor", "app store", "settings"]) {
      await page.keyboard.press("Control+k");
      await page.getByRole("combobox", { name: "Search apps" }).fill(name);
      await page.keyboard.press("Enter");
      await page.waitForTimeout(300);
    }
    await page.addScriptTag({ path: join(import.meta.dirname, "..", "node_modules", "axe-core", "axe.min.js") });
    const violations = await page.evaluate(async () =>
      (await window.axe.run(document, { resultTypes: ["violations"] })).violations.map((v) => `${v.id} (${v.impact}, ${v.nodes.length}×: ${v.nodes[0].target.join(" ")})`),
    );
    await shot("17-all-apps");
    assert(violations.length === 0, violations.join("; "));
  });

  await check("no uncaught errors in the page", async () => {
    assert(errors.length === 0, errors.join(" | "));
  });

  await context.close();
  await rm(profile, { recursive: true, force: true });
  server.close();
  console.log(`screenshots: ${shots}`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    console.log("0 passed, 1 failed");
    process.exit(1);
  },
);
