import { describe, expect, it, vi } from "vitest";
import { jsonResponse } from "../test/fixtures";
import { consumeLoginToken, useAuthStore } from "./auth";
import { ApiError, createApiClient } from "./client";
import { apiError, createMockFetch } from "./mock";
import { createStream } from "./stream";

describe("api client", () => {
  it("sends the cookie, parses wrapped and bare lists, and marks the page signed in", async () => {
    const m = createMockFetch({ "GET /api/apps": { apps: [{ id: "a1", app_id: "calculator", name: "Calculator" }] }, "GET /api/registry/apps": [{ id: "notes", name: "Notes" }] });
    const fetchSpy = vi.fn(m.fetch);
    const api = createApiClient(fetchSpy);
    const apps = await api.listApps();
    expect(apps).toEqual([{ id: "a1", app_id: "calculator", name: "Calculator", icon: "", type: "blueprint" }]);
    expect((fetchSpy.mock.calls[0]![1] as RequestInit).credentials).toBe("same-origin");
    expect(await api.listRegistry()).toEqual([{ id: "notes", name: "Notes", description: "", icon: "", category: "other", type: "blueprint" }]);
    expect(useAuthStore.getState().status).toBe("signed_in");
  });

  it("turns the error body into an ApiError with code and message; 401 signs the page out", async () => {
    const api = createApiClient(createMockFetch({ "POST /api/registry/apps/*/launch": apiError(403, "permission_denied", "app may not spawn") }).fetch);
    const err = await api.launch("shell").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 403, code: "permission_denied", message: "POST /api/registry/apps/shell/launch: app may not spawn" });

    const out = createApiClient(createMockFetch({ "GET /api/apps": apiError(401, "unauthenticated", "session expired") }).fetch);
    await expect(out.listApps()).rejects.toMatchObject({ status: 401 });
    expect(useAuthStore.getState()).toMatchObject({ status: "signed_out", reason: "session expired" });
  });

  it("reports a malformed answer with the path of the problem", async () => {
    const api = createApiClient(createMockFetch({ "GET /api/apps": { apps: [{ id: "", name: 3 }] } }).fetch);
    await expect(api.listApps()).rejects.toThrow(/GET \/api\/apps: unexpected answer: .*apps\.0\.id/);
  });

  it("reports a non-JSON error body by its HTTP status, and a network failure", async () => {
    const api = createApiClient(vi.fn(async () => new Response("<html>bad gateway", { status: 502, statusText: "Bad Gateway" })));
    await expect(api.listApps()).rejects.toThrow("GET /api/apps: HTTP 502 Bad Gateway");
    const down = createApiClient(vi.fn(async () => Promise.reject(new TypeError("Failed to fetch"))));
    await expect(down.listApps()).rejects.toMatchObject({ status: 0, code: "network", message: "GET /api/apps: Failed to fetch" });
  });

  it("posts window geometry and tool calls with the documented bodies", async () => {
    const m = createMockFetch({ "POST /api/apps/*/window": { ok: true }, "POST /api/services/execute": { tool: "fs.list", result: [{ name: "a", is_dir: true, size: 0 }] } });
    const api = createApiClient(m.fetch);
    await api.setWindow("app-1", { x: 1, y: 2, width: 300, height: 200, state: "maximized", z: 3 });
    expect(m.calls[0]).toEqual({ method: "POST", path: "/api/apps/app-1/window", body: { x: 1, y: 2, width: 300, height: 200, state: "maximised" } });
    expect(await api.fsList("/", "app-2")).toEqual([{ name: "a", path: "/a", is_dir: true, size: 0 }]);
    expect(m.calls[1]!.body).toEqual({ tool: "fs.list", args: { path: "/" }, app_id: "app-2" });
  });
});

describe("server shapes (services/openapi.json)", () => {
  it("reads an App with kind, source.blueprint and a British window state", async () => {
    const app = {
      id: "a1",
      app_id: "calculator",
      name: "Calculator",
      kind: "blueprint",
      children: [],
      focused: true,
      started_unix_ms: 1,
      source: { kind: "blueprint", blueprint: { ui: { components: [] } } },
      window: { x: 10, y: 20, width: 300, height: 400, state: "minimised", z: 2 },
    };
    const shell = { ...app, id: "a2", app_id: "shell", name: "Shell", kind: "native_process", pid: 4242, source: { kind: "native_process", manifest: {} }, window: { x: 0, y: 0, width: 1, height: 1 } };
    const api = createApiClient(createMockFetch({ "GET /api/apps": [app, shell], "GET /api/registry/apps": [{ id: "shell", name: "Shell", category: "system", version: "1", builtin: true, kind: "native_process" }] }).fetch);
    const [a, b] = await api.listApps();
    expect(a).toMatchObject({ id: "a1", type: "blueprint", blueprint: { ui: { components: [] } }, window: { rect: { x: 10, y: 20, width: 300, height: 400 }, state: "minimized", z: 2 } });
    expect(b).toMatchObject({ type: "native_proc", pid: 4242, window: { rect: { x: 0, y: 0, width: 1, height: 1 }, state: "normal" } });
    expect((await api.listRegistry())[0]).toMatchObject({ id: "shell", type: "native_proc", builtin: true });
  });

  it("reads a new app's window without geometry (the desktop places it), and refuses half a rect", async () => {
    const app = { id: "a1", app_id: "notes", name: "Notes", kind: "blueprint", source: { kind: "blueprint", blueprint: {} }, window: { state: "normal", z: 4 } };
    const fresh = await createApiClient(createMockFetch({ "POST /api/registry/apps/*/launch": app }).fetch).launch("notes");
    expect(fresh.window).toEqual({ state: "normal", z: 4 });
    const half = createApiClient(createMockFetch({ "GET /api/apps": [{ ...app, window: { x: 1, y: 2, state: "normal" } }] }).fetch);
    await expect(half.listApps()).rejects.toThrow(/unexpected answer: apps\.0\.window: a window's x, y, width and height come together/);
  });

  it("lists the registry's kinds", async () => {
    const api = createApiClient(createMockFetch({ "GET /api/registry/apps": [{ id: "shell", name: "Shell", category: "system", version: "1", builtin: true, kind: "native_process" }] }).fetch);
    expect((await api.listRegistry())[0]).toMatchObject({ id: "shell", type: "native_proc", builtin: true });
  });

  it("saves a session as {name, state by app id} and closes with the children's ids", async () => {
    const m = createMockFetch({ "POST /api/sessions/save": { id: "s1", name: "x", saved_unix_ms: 1, apps: 1 }, "DELETE /api/apps/*": { closed: ["a2", "a1"] } });
    const api = createApiClient(m.fetch);
    expect(await api.saveSession("x", { a1: { display: "42" } })).toBe("s1");
    expect(m.calls[0]!.body).toEqual({ name: "x", state: { a1: { display: "42" } } });
    expect(await api.closeApp("a1")).toEqual(["a2", "a1"]);
  });
});

describe("login token", () => {
  it("removes ?token= from the address and exchanges it", async () => {
    const replaceState = vi.fn();
    const fetchMock = vi.fn(async () => jsonResponse({ user: "owner" }));
    await consumeLoginToken({ href: "http://127.0.0.1:8000/?token=abc#x" } as Location, { state: null, replaceState } as unknown as History, fetchMock);
    expect(replaceState).toHaveBeenCalledWith(null, "", "/#x");
    expect(fetchMock).toHaveBeenCalledWith("/api/auth/exchange", expect.objectContaining({ method: "POST", credentials: "same-origin", body: JSON.stringify({ token: "abc" }) }));
  });
});

class FakeSocket {
  static last: FakeSocket | null = null;
  readyState = 0;
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;
  constructor() {
    FakeSocket.last = this;
  }
  send(t: string) {
    this.sent.push(t);
  }
  close() {
    this.onclose?.();
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
}

describe("stream", () => {
  it("queues until open, validates messages in order, and reports bad ones as errors", async () => {
    const s = createStream(() => new FakeSocket() as unknown as WebSocket);
    const got: unknown[] = [];
    s.subscribe((m) => got.push(m));
    s.send({ type: "subscribe", app_id: "a1" });
    const sock = FakeSocket.last!;
    expect(sock.sent).toEqual([]);
    sock.open();
    expect(sock.sent).toEqual(['{"type":"subscribe","app_id":"a1"}']);
    sock.onmessage!({ data: '{"type":"process_exit","app_id":"a1","code":3}' });
    sock.onmessage!({ data: '{"type":"process_exit","app_id":"a1"}' });
    sock.onmessage!({ data: "not json" });
    // Validated once the schemas are in (lazySchemas.ts), in the order they came.
    await vi.waitFor(() => expect(got).toHaveLength(3));
    expect(got[0]).toEqual({ type: "process_exit", app_id: "a1", code: 3 });
    expect(got[1]).toMatchObject({ type: "error", message: expect.stringContaining('unexpected stream message "process_exit"') });
    expect(got[2]).toMatchObject({ type: "error", message: expect.stringContaining("not JSON") });
    s.close();
  });
});
