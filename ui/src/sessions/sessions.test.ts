import { afterEach, describe, expect, it, vi } from "vitest";
import { createApiClient, setApiClient } from "../api/client";
import { createMockFetch } from "../api/mock";
import { useAppState } from "../apps/appState";
import { useProcs } from "../apps/processes";
import { useWm } from "../wm/store";
import { newestWorkspace, restoreLastSession } from "./sessions";

afterEach(() => vi.unstubAllGlobals());

const win = (x: number) => ({ x, y: 40, width: 400, height: 300, state: "normal" });

describe("restoring a saved workspace", () => {
  it("brings back every app type at its place, with its state; the terminal is marked a new process", async () => {
    const api = createMockFetch({
      "GET /api/sessions": [
        { id: "old", name: "Old", saved_unix_ms: 1 },
        { id: "default", name: "Last session", saved_unix_ms: 5 },
      ],
      "POST /api/sessions/default/restore": [
        { id: "a7", app_id: "calculator", name: "Calculator", kind: "blueprint", source: { kind: "blueprint", blueprint: { ui: { components: [] } } }, window: win(10) },
        { id: "a8", app_id: "files", name: "Files", kind: "native_web", window: win(300) },
        { id: "a9", app_id: "shell", name: "Shell", kind: "native_process", pid: 4242, window: { ...win(600), state: "maximised" } },
      ],
      "GET /api/sessions/default": {
        id: "default",
        apps: [
          { id: "a1", app_id: "calculator", window: win(10), state: { display: "42" } },
          { id: "a2", app_id: "files", window: win(300), state: { cwd: "/projects" } },
          { id: "a3", app_id: "shell", window: { ...win(600), state: "maximised" }, state: null },
        ],
      },
    });
    vi.stubGlobal("fetch", api.fetch);
    setApiClient(createApiClient());
    await restoreLastSession();

    // The newest save (the one sign-out made) is the one restored.
    expect(api.calls.some((c) => c.path === "/api/sessions/default/restore")).toBe(true);
    const { windows } = useWm.getState();
    expect(windows.a7!.rect).toEqual({ x: 10, y: 40, width: 400, height: 300 });
    expect(windows.a8!.rect.x).toBe(300);
    expect(windows.a9!.mode).toBe("maximized");
    const states = useAppState.getState().byWindow;
    expect(states.a7).toEqual({ display: "42" });
    expect(states.a8).toEqual({ cwd: "/projects" });
    const procs = useProcs.getState().procs;
    expect(procs.a9).toMatchObject({ appId: "terminal", serverId: "a9", restored: true });
    expect(procs.a7!.restored).toBeUndefined();
  });
});

describe("which save Restore workspace brings back", () => {
  it("is the newest one with apps in it, not a newer empty one", async () => {
    expect(
      newestWorkspace([
        { id: "work", name: "Work", saved_unix_ms: 3, apps: 2 },
        { id: "default", name: "Last session", saved_unix_ms: 9, apps: 0 },
        { id: "old", name: "Old", saved_unix_ms: 1, apps: 4 },
      ])?.id,
    ).toBe("work");
    expect(newestWorkspace([{ id: "default", name: "", saved_unix_ms: 9, apps: 0 }])).toBeUndefined();

    const api = createMockFetch({
      "GET /api/sessions": [
        { id: "default", name: "Last session", saved_unix_ms: 9, apps: 0 },
        { id: "work", name: "Work", saved_unix_ms: 3, apps: 1 },
      ],
      "POST /api/sessions/work/restore": [{ id: "a1", app_id: "files", name: "Files", kind: "native_web", window: win(30) }],
      "GET /api/sessions/work": { id: "work", apps: [{ id: "a0", app_id: "files", window: win(30), state: null }] },
    });
    vi.stubGlobal("fetch", api.fetch);
    setApiClient(createApiClient());
    await restoreLastSession();
    const restored = api.calls.filter((c) => c.path.endsWith("/restore")).map((c) => c.path);
    expect(restored).toEqual(["/api/sessions/work/restore"]);
    expect(useWm.getState().windows.a1!.rect.x).toBe(30);
  });

  it("says there is none when every save is empty, and restores nothing", async () => {
    const api = createMockFetch({ "GET /api/sessions": [{ id: "default", name: "Last session", saved_unix_ms: 9, apps: 0 }] });
    vi.stubGlobal("fetch", api.fetch);
    setApiClient(createApiClient());
    await restoreLastSession();
    expect(api.calls.some((c) => c.path.endsWith("/restore"))).toBe(false);
  });
});
