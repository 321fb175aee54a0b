import { fireEvent, render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { createApiClient, setApiClient } from "../../api/client";
import { apiError, createMockFetch } from "../../api/mock";
import { openWindow } from "../../wm/functions";
import { useWm } from "../../wm/store";
import type { AppContext } from "../context";
import { addProc, useProcs } from "../processes";
import TaskManager, { IN_PAGE } from "./TaskManager";

const ctx = {} as AppContext;
const apps = {
  apps: [
    { id: "a1", app_id: "shell", name: "Shell", type: "native_proc" },
    { id: "a2", app_id: "python", name: "Python", type: "native_proc" },
    { id: "a3", app_id: "calculator", name: "Calculator", type: "blueprint" },
  ],
};
const processes = {
  processes: [
    { pid: 101, app_id: "a1", name: "sh", state: "running", cpu_percent: 0.5, memory_current: 3 * 1024 * 1024, memory_peak: 4 * 1024 * 1024, pids: 1 },
    { pid: 202, app_id: "a2", name: "python3", state: "sleeping", cpu_percent: 12.25, memory_current: 20 * 1024 * 1024, memory_peak: 25 * 1024 * 1024, pids: 3 },
  ],
};

const names = () =>
  within(screen.getByRole("table", { name: "Running apps and processes" }))
    .getAllByRole("row")
    .slice(1)
    .map((r) => r.querySelector("td")!.firstChild!.textContent!.trim());

describe("<TaskManager>", () => {
  it("lists apps with their processes' memory and CPU, sorted by memory, re-sortable", async () => {
    const m = createMockFetch({ "GET /api/apps": apps, "GET /api/processes": processes, "DELETE /api/apps/*": { ok: true } });
    setApiClient(createApiClient(m.fetch));
    render(<TaskManager ctx={ctx} />);
    expect(await screen.findByRole("cell", { name: "20.0 MiB" })).toBeTruthy();
    expect(screen.getByRole("cell", { name: "12.3 %" })).toBeTruthy();
    expect(names()).toEqual(["Python", "Shell", "Calculator"]);
    fireEvent.click(screen.getByRole("button", { name: /^App/ }));
    expect(names()).toEqual(["Calculator", "Python", "Shell"]);
    expect(screen.getByRole("columnheader", { name: /App/ }).getAttribute("aria-sort")).toBe("ascending");
    // The order is read from aria-sort: the arrow drawn beside the name is not part of it.
    expect(screen.getByRole("button", { name: "App" }).textContent).toBe("App ↑");
    fireEvent.click(screen.getByRole("button", { name: "End task: Shell" }));
    await screen.findByText("Ended Shell", { exact: false }).catch(() => undefined);
    expect(m.calls.some((c) => c.method === "DELETE" && c.path === "/api/apps/a1")).toBe(true);
  });

  it("every column of figures sorts from its header, the eBPF watch cost too, and is a numeric column", async () => {
    const watched = { processes: processes.processes.map((p, i) => ({ ...p, observe_cpu_ns: [9e6, 2e6][i] })) };
    setApiClient(createApiClient(createMockFetch({ "GET /api/apps": apps, "GET /api/processes": watched }).fetch));
    render(<TaskManager ctx={ctx} />);
    expect(await screen.findByRole("cell", { name: "9.00 ms" })).toBeTruthy();
    const watch = screen.getByRole("columnheader", { name: /Watch/ });
    expect(watch.className).toBe("num");
    fireEvent.click(within(watch).getByRole("button", { name: /Watch/ }));
    expect(watch.getAttribute("aria-sort")).toBe("descending");
    expect(names()).toEqual(["Shell", "Python", "Calculator"]);
    for (const h of ["PID", "CPU", "Memory", "Peak", "Tasks", "Watch"]) {
      const th = screen.getByRole("columnheader", { name: new RegExp(h) });
      expect(within(th).getByRole("button")).toBeTruthy();
      expect(th.className).toBe("num");
    }
  });

  it("says kernel data is not available yet when /api/processes is a 404, and still lists apps", async () => {
    setApiClient(createApiClient(createMockFetch({ "GET /api/apps": apps, "GET /api/processes": apiError(404, "not_found", "no route") }).fetch));
    render(<TaskManager ctx={ctx} />);
    expect((await screen.findByRole("note")).textContent).toContain("not available yet");
    expect(await screen.findByRole("cell", { name: /Shell/ })).toBeTruthy();
  });

  it("freezes, thaws, re-prioritises and kills a process through the kernel endpoints, and shows its grants", async () => {
    // As the server sends it on a first look: no CPU % yet (null).
    const frozen = { processes: [{ ...processes.processes[0], cpu_percent: null, priority: 0, frozen: true, grants: ["time", "read:/srv"] }] };
    const status = { pid: 101, state: "running", priority: 5, frozen: false };
    const m = createMockFetch({
      "GET /api/apps": { apps: [apps.apps[0]] },
      "GET /api/processes": frozen,
      "POST /api/apps/a1/process/freeze": status,
      "POST /api/apps/a1/process/priority": status,
      "POST /api/apps/a1/process/kill": { ...status, state: "exited" },
    });
    setApiClient(createApiClient(m.fetch));
    render(<TaskManager ctx={ctx} />);
    expect(await screen.findByRole("cell", { name: "time, read:/srv" })).toBeTruthy();
    expect(screen.getByRole("cell", { name: "frozen" })).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Thaw: Shell" }));
    fireEvent.change(screen.getByRole("combobox", { name: "Priority: Shell" }), { target: { value: "5" } });
    fireEvent.click(screen.getByRole("button", { name: "Kill process: Shell" }));
    await new Promise((r) => setTimeout(r, 0));
    const posts = m.calls.filter((c) => c.method === "POST").map((c) => [c.path, c.body]);
    expect(posts).toEqual([
      ["/api/apps/a1/process/freeze", { frozen: false }],
      ["/api/apps/a1/process/priority", { priority: 5 }],
      ["/api/apps/a1/process/kill", {}],
    ]);
  });

  it("lists the page's own apps and server apps without a process as running in the page; End task closes such a window", async () => {
    const m = createMockFetch({ "GET /api/apps": { apps: [apps.apps[0], apps.apps[2]] }, "GET /api/processes": { processes: [processes.processes[0]] } });
    setApiClient(createApiClient(m.fetch));
    const vp = { width: 1280, height: 720 };
    for (const [id, appId, title, serverId] of [
      ["taskmanager-1", "taskmanager", "Task Manager", null],
      ["settings-2", "settings", "Settings", null],
      ["a3", "calculator", "Calculator", "a3"],
    ] as const) {
      addProc({ windowId: id, appId, kind: appId === "calculator" ? "blueprint" : "native", serverId });
      useWm.getState().apply(openWindow({ id, appId, title, viewport: vp }));
    }
    render(<TaskManager ctx={ctx} />);
    await screen.findByRole("cell", { name: "3.0 MiB" });
    expect(names()).toEqual(["Shell", "Calculator", "Task Manager", "Settings"]);
    const row = (name: string) => screen.getAllByRole("row").find((r) => r.querySelector("td")?.firstChild?.textContent?.trim() === name)!;
    for (const name of ["Calculator", "Task Manager", "Settings"]) {
      const cells = within(row(name)).getAllByRole("cell").map((c) => c.textContent);
      // The name, the note in place of every figure, the actions: no made-up numbers.
      expect(cells).toEqual([expect.stringContaining(name), IN_PAGE, "End task"]);
    }
    expect(within(row("Shell")).getAllByRole("cell").some((c) => c.textContent === IN_PAGE)).toBe(false);
    const endSettings = screen.getByRole("button", { name: "End task: Settings" });
    endSettings.focus();
    // happy-dom's focus() sends no focusin, which React's onFocus listens to.
    fireEvent.focusIn(endSettings);
    fireEvent.click(endSettings);
    // The focus stays in the table, on the End task of the row that took its place.
    expect(document.activeElement?.getAttribute("aria-label") ?? "").toMatch(/^End task: /);
    expect(useWm.getState().windows["settings-2"]).toBeUndefined();
    expect(useProcs.getState().procs["settings-2"]).toBeUndefined();
    expect(m.calls.some((c) => c.method === "DELETE")).toBe(false);
    expect(names()).toEqual(["Shell", "Calculator", "Task Manager"]);
  });
});
