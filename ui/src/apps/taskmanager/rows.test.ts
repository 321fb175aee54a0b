import { describe, expect, it } from "vitest";
import type { AppInstance, ProcessInfo } from "../../api/schemas";
import type { Proc } from "../processes";
import { rowLabels, taskRows } from "./rows";

const app = (id: string, name: string, type: AppInstance["type"]): AppInstance => ({ id, name, type, icon: "" });
const proc = (pid: number, app_id: string): ProcessInfo => ({ pid, app_id, name: "sh", state: "running", memory_current: 1 << 20 });
const win = (windowId: string, appId: string, serverId: string | null): Proc => ({ windowId, appId, kind: "native", serverId });

describe("taskRows", () => {
  it("lists the server's apps with their processes and every window the page alone knows", () => {
    const rows = taskRows(
      [app("a1", "Shell", "native_proc"), app("a2", "Calculator", "blueprint"), app("a3", "Files", "native_web")],
      [proc(101, "a1"), proc(102, "a1")],
      [win("a2", "calculator", "a2"), win("a3", "files", "a3"), win("taskmanager-1", "taskmanager", null), win("settings-2", "settings", null)],
      { "taskmanager-1": "Task Manager", "settings-2": "Settings" },
    );
    expect(rows.map((r) => [r.name, r.proc?.pid ?? null, r.inPage, r.windowIds])).toEqual([
      ["Shell", 101, false, []],
      ["Shell", 102, false, []],
      ["Calculator", null, true, ["a2"]],
      ["Files", null, true, ["a3"]],
      ["Task Manager", null, true, ["taskmanager-1"]],
      ["Settings", null, true, ["settings-2"]],
    ]);
    expect(new Set(rows.map((r) => r.key)).size).toBe(rows.length);
  });

  it("does not call a native process that has exited a page app, and lists a server window once", () => {
    const rows = taskRows([app("a1", "Shell", "native_proc")], [], [win("a1", "terminal", "a1"), win("a1b", "terminal", "a1")], {});
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ name: "Shell", inPage: false, proc: null, windowIds: ["a1", "a1b"], kind: "process" });
  });

  it("leaves out a window the server launched but has not listed yet, until it does", () => {
    expect(taskRows([], [], [win("x1", "files", "x1")], {})).toEqual([]);
  });
});

describe("rowLabels", () => {
  it("names a row's buttons by its app, and tells apart rows that share a name by pid or a fixed number", () => {
    const rows = taskRows(
      [app("a1", "Shell", "native_proc"), app("a2", "Shell", "native_proc"), app("a3", "Files", "native_web"), app("a10", "Files", "native_web")],
      [proc(101, "a1"), proc(102, "a2")],
      [win("calc-1", "calculator", null)],
      { "calc-1": "Calculator" },
    );
    const labels = rowLabels(rows);
    expect(rows.map((r) => labels.get(r.key))).toEqual(["Shell (pid 101)", "Shell (pid 102)", "Files (1)", "Files (2)", "Calculator"]);
    // The numbers do not follow the table's sort.
    expect(rowLabels([...rows].reverse())).toEqual(labels);
  });
});
