import { beforeEach, describe, expect, it, vi } from "vitest";
import { createApiClient, setApiClient } from "../api/client";
import { useAppState } from "../apps/appState";
import { jsonResponse } from "../test/fixtures";
import { executeTool, hiddenKey } from "./executor";

const scope = { windowId: "w1", serverId: "srv-1" };
const state = () => useAppState.getState().byWindow.w1 ?? {};

describe("executeTool", () => {
  beforeEach(() => useAppState.setState({ byWindow: {} }));

  it("runs ui.* on the window's component state", async () => {
    await executeTool("ui.set", { target: "display", value: "7" }, scope);
    await executeTool("ui.append", { target: "display", value: "×6" }, scope);
    expect(state().display).toBe("7×6");
    await executeTool("ui.backspace", { target: "display" }, scope);
    expect(state().display).toBe("7×");
    await executeTool("ui.toggle", { target: "done" }, scope);
    expect(state().done).toBe(true);
    await executeTool("ui.hide", { target: "panel" }, scope);
    expect(state()[hiddenKey("panel")]).toBe(true);
    await executeTool("ui.add_item", { target: "todos", value: "milk" }, scope);
    await executeTool("ui.add_item", { target: "todos", value: "eggs" }, scope);
    await executeTool("ui.remove_item", { target: "todos", index: 0 }, scope);
    expect(state().todos).toEqual(["eggs"]);
    await executeTool("ui.clear", { target: "display" }, scope);
    expect(state().display).toBe("");
    await expect(executeTool("ui.set", { value: 1 }, scope)).rejects.toThrow('needs a "target"');
    await expect(executeTool("ui.explode", { target: "x" }, scope)).rejects.toThrow('unknown tool "ui.explode"');
  });

  it("runs math.* in the page: the calculator's arithmetic, with errors", async () => {
    await expect(executeTool("math.evaluate", { expression: "7*6", target: "display" }, scope)).resolves.toBe(42);
    expect(state().display).toBe("42");
    await expect(executeTool("math.calculate", { expression: "2+3×4" }, scope)).resolves.toBe(14);
    await expect(executeTool("math.divide", { a: 1, b: 0 }, scope)).rejects.toThrow("division by zero");
    await expect(executeTool("math.evaluate", { expression: "8/(4-4)" }, scope)).rejects.toThrow("division by zero");
    await expect(executeTool("math.mean", { values: [1, 2, 3] }, scope)).resolves.toBe(2);
    await expect(executeTool("math.median", { values: "3, 1, 2, 10" }, scope)).resolves.toBe(2.5);
    await expect(executeTool("math.add", { a: "x", b: 1 }, scope)).rejects.toThrow('"a" is not a number');
  });

  it("is fast: a ui.* and a math.* call each take well under 10 ms", async () => {
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) await executeTool("math.evaluate", { expression: "(1+2)*3^2-4/5" }, scope);
    for (let i = 0; i < 100; i++) await executeTool("ui.append", { target: "d", value: "1" }, scope);
    expect((performance.now() - t0) / 200).toBeLessThan(10);
  });

  it("sends other tools to POST /api/services/execute with the app id", async () => {
    const fetchMock = vi.fn(async () => jsonResponse({ tool: "storage.get", result: { value: 1 } }));
    setApiClient(createApiClient(fetchMock));
    await expect(executeTool("storage.get", { key: "k" }, scope)).resolves.toEqual({ value: 1 });
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/services/execute");
    expect(init.credentials).toBe("same-origin");
    expect(JSON.parse(String(init.body))).toEqual({ tool: "storage.get", args: { key: "k" }, app_id: "srv-1" });

    await executeTool("storage.get", { key: "k", result_target: "out" }, scope);
    expect(state().out).toEqual({ value: 1 });
    expect(JSON.parse(String((fetchMock.mock.calls[1] as unknown as [string, RequestInit])[1].body)).args).toEqual({ key: "k" });

    setApiClient(createApiClient(vi.fn(async () => jsonResponse({ error: { code: "permission_denied", message: "permission denied: storage" } }, { status: 403 }))));
    await expect(executeTool("storage.get", {}, scope)).rejects.toThrow("permission denied: storage");
    setApiClient(createApiClient());
  });
});

describe("ui.set's prop and format", () => {
  it("sets a named prop under its own key and formats seconds as a duration", async () => {
    const { getValue } = await import("../apps/appState");
    const { formatDuration } = await import("./executor");
    const scope = { windowId: "w-fmt", serverId: null };
    await executeTool("ui.set", { id: "bar", prop: "max", value: 600 }, scope);
    expect(getValue("w-fmt", "$max.bar")).toBe(600);
    expect(getValue("w-fmt", "bar")).toBeUndefined();
    await executeTool("ui.set", { id: "clock", value: "297", format: "duration" }, scope);
    expect(getValue("w-fmt", "clock")).toBe("04:57");
    expect(formatDuration("t", 3725)).toBe("1:02:05");
    expect(formatDuration("t", -3)).toBe("00:00");
    await expect(executeTool("ui.set", { id: "clock", value: "soon", format: "duration" }, scope)).rejects.toThrow("a duration needs a number");
  });
});
