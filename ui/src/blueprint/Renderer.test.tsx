import { act, fireEvent, render, screen, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { setApiClient, createApiClient } from "../api/client";
import { status } from "../api/mock";
import { useAppState } from "../apps/appState";
import type { AppContext } from "../apps/context";
import type { Proc } from "../apps/processes";
import { fixtures, mockApi } from "../test/api-fixtures";
import BlueprintApp, { resolveParams } from "./BlueprintApp";
import { useGenerations } from "./generate";
import { addComponent, emptyTree, rootsOf } from "./tree";

function ctxFor(windowId: string): AppContext {
  return {
    appId: "x",
    windowId,
    serverId: "srv",
    state: { get: (_k, f) => f, set: () => {} },
    execute: async () => undefined,
    window: { setTitle: () => {}, close: () => {}, minimize: () => {}, focus: () => {} },
  };
}
const proc = (blueprint: unknown, extra: Partial<Proc> = {}): Proc => ({ windowId: "w", appId: "x", kind: "blueprint", serverId: "srv", blueprint, ...extra });
const spec = (components: unknown[]) => ({ ui: { title: "T", components } });

describe("Blueprint renderer", () => {
  it("runs the calculator: 7 × 6 = 42, precedence, and division by zero as an error", async () => {
    render(<BlueprintApp ctx={ctxFor("w")} proc={proc(fixtures.calculator)} />);
    const press = (name: string) => fireEvent.click(screen.getByRole("button", { name }));
    const display = () => screen.getByLabelText("Display").textContent;
    for (const k of ["7", "×", "6"]) press(k);
    expect(display()).toBe("7×6");
    press("=");
    await vi.waitFor(() => expect(display()).toBe("42"));

    press("C");
    for (const k of ["2", "+", "3", "×", "4"]) press(k);
    press("=");
    await vi.waitFor(() => expect(display()).toBe("14"));

    press("C");
    for (const k of ["8", "÷", "0"]) press(k);
    press("=");
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("division by zero");
    expect(display()).toBe("8÷0");
  });

  it("shows a visible error box for an unknown component and for invalid props, and renders the rest", () => {
    render(
      <BlueprintApp
        ctx={ctxFor("w")}
        proc={proc(
          spec([
            { type: "sparkline", id: "s1", props: {} },
            { type: "button", id: "b1", props: { text: "OK", colour: "red" } },
            { type: "text", id: "t1", props: { content: "still here" } },
            { nope: true },
          ]),
        )}
      />,
    );
    const alerts = screen.getAllByRole("alert").map((a) => a.textContent);
    expect(alerts[0]).toContain('Unknown component type "sparkline"');
    expect(alerts[1]).toContain('unknown prop "colour"');
    expect(alerts[2]).toMatch(/Not a component: type: .*; id: /);
    expect(screen.getByText("still here")).toBeTruthy();
  });

  it("renders a declared fallback instead of the error box", () => {
    render(
      <BlueprintApp
        ctx={ctxFor("w")}
        proc={proc(spec([{ type: "chart", id: "c", props: {}, fallback: { type: "text", id: "c-fb", props: { content: "no charts here" } } }]))}
      />,
    );
    expect(screen.getByText("no charts here")).toBeTruthy();
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("says so when the whole Blueprint is invalid, never a blank window", () => {
    render(<BlueprintApp ctx={ctxFor("w")} proc={proc({ ui: { components: "nope" } })} />);
    expect(screen.getByRole("alert").textContent).toMatch(/Blueprint is invalid.*ui\.components/);
  });

  it("keeps typed text and focus when the spec is updated", () => {
    const v1 = spec([{ type: "container", id: "c", children: [{ type: "input", id: "name", props: { label: "Name" } }] }]);
    const v2 = spec([
      {
        type: "container",
        id: "c",
        children: [
          { type: "text", id: "hello", props: { content: "Hello" } },
          { type: "input", id: "name", props: { label: "Name", placeholder: "new placeholder" } },
        ],
      },
    ]);
    const { rerender } = render(<BlueprintApp ctx={ctxFor("w")} proc={proc(v1)} />);
    const input = screen.getByLabelText("Name") as HTMLInputElement;
    input.focus();
    fireEvent.change(input, { target: { value: "Ada" } });
    rerender(<BlueprintApp ctx={ctxFor("w")} proc={proc(v2)} />);
    const after = screen.getByLabelText("Name") as HTMLInputElement;
    expect(after).toBe(input);
    expect(after.value).toBe("Ada");
    expect(after.placeholder).toBe("new placeholder");
    expect(document.activeElement).toBe(after);
    expect(screen.getByText("Hello")).toBeTruthy();
  });

  it("virtualises a list of 10,000 items", () => {
    const items = Array.from({ length: 10_000 }, (_, i) => `Item ${i + 1}`);
    render(<BlueprintApp ctx={ctxFor("w")} proc={proc(spec([{ type: "list", id: "big", props: { label: "Big", items, height: 300, item_height: 30 } }]))} />);
    const list = screen.getByRole("listbox", { name: "Big" });
    const rows = within(list).getAllByRole("option");
    expect(rows.length).toBeLessThan(40);
    expect(rows[0]!.getAttribute("aria-setsize")).toBe("10000");
    const scroller = list.parentElement!;
    scroller.scrollTop = 150_000;
    fireEvent.scroll(scroller);
    expect(within(list).getByText("Item 5001")).toBeTruthy();
    expect(within(list).getAllByRole("option").length).toBeLessThan(40);
  });

  it("binds events: a todo item added from the field, $refs resolved", () => {
    render(<BlueprintApp ctx={ctxFor("w")} proc={proc(fixtures.todo)} />);
    const field = screen.getByLabelText("New task");
    fireEvent.change(field, { target: { value: "buy milk" } });
    fireEvent.click(screen.getByRole("button", { name: "Add" }));
    return vi.waitFor(() => {
      expect(within(screen.getByRole("list", { name: "Tasks" })).getByText("buy milk")).toBeTruthy();
      expect((screen.getByLabelText("New task") as HTMLInputElement).value).toBe("");
    });
  });

  it("runs ui.lifecycle.on_mount once when the app opens", async () => {
    const bp = { ui: { lifecycle: { on_mount: { tool: "ui.set", params: { target: "status", value: "ready" } } }, components: [{ type: "text", id: "status", props: { content: "starting" } }] } };
    const { rerender } = render(<BlueprintApp ctx={ctxFor("w")} proc={proc(bp)} />);
    await vi.waitFor(() => expect(screen.getByText("ready")).toBeTruthy());
    act(() => useAppState.setState({ byWindow: { w: { status: "changed" } } }));
    rerender(<BlueprintApp ctx={ctxFor("w")} proc={proc(bp)} />);
    expect(screen.getByText("changed")).toBeTruthy();
  });

  it("sends other tools to the API and shows their failure in the window", async () => {
    const api = mockApi({ "POST /api/services/execute": status(403, { error: { code: "permission_denied", message: "permission denied: storage.set" } }) });
    setApiClient(createApiClient(api.fetch));
    render(
      <BlueprintApp
        ctx={ctxFor("w")}
        proc={proc(spec([{ type: "button", id: "save", props: { text: "Save" }, on_event: { click: { tool: "storage.set", params: { key: "k" } } } }]))}
      />,
    );
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    expect((await screen.findByRole("alert")).textContent).toContain("permission denied: storage.set");
    expect(api.calls.at(-1)).toMatchObject({ path: "/api/services/execute", body: { tool: "storage.set", args: { key: "k" }, app_id: "srv" } });
  });

  it("renders a streamed spec component by component, with placeholders for children not there yet", () => {
    useGenerations.setState({ byRequest: { r1: { tree: emptyTree, thoughts: ["thinking"], done: false, error: "" } } });
    render(<BlueprintApp ctx={ctxFor("g")} proc={{ windowId: "g", appId: "generated", kind: "generated", serverId: null, requestId: "r1" }} />);
    const push = (c: unknown) =>
      act(() => useGenerations.setState((s) => ({ byRequest: { r1: { ...s.byRequest.r1!, tree: addComponent(c)(s.byRequest.r1!.tree) } } })));
    push({ type: "container", id: "root", children: ["title", "go"] });
    expect(screen.getByLabelText("Loading title")).toBeTruthy();
    expect(screen.getByLabelText("Loading go")).toBeTruthy();
    push({ type: "text", id: "title", props: { content: "Pomodoro" } });
    expect(screen.getByText("Pomodoro")).toBeTruthy();
    expect(screen.queryByLabelText("Loading title")).toBeNull();
    push({ type: "button", id: "go", props: { text: "Start" } });
    expect(screen.getByRole("button", { name: "Start" })).toBeTruthy();
    expect(screen.getByRole("status").textContent).toContain("Building… 3 components");
  });
});

describe("tree and params", () => {
  it("finds roots of a flat stream as children arrive", () => {
    let t = addComponent({ type: "text", id: "a" })(emptyTree);
    t = addComponent({ type: "container", id: "root", children: ["a"] })(t);
    expect(rootsOf(t)).toEqual(["root"]);
  });

  it("links components that name their parent, in either arrival order", () => {
    let t = addComponent({ type: "text", id: "early", parent: "root" })(emptyTree);
    expect(rootsOf(t)).toEqual([]);
    t = addComponent({ type: "container", id: "root" })(t);
    t = addComponent({ type: "text", id: "late", parent: "root" })(t);
    expect(t.nodes.root!.children).toEqual(["early", "late"]);
    expect(rootsOf(t)).toEqual(["root"]);
    // Sent again (an update), a component keeps its place.
    t = addComponent({ type: "text", id: "late", parent: "root", props: { content: "v2" } })(t);
    expect(t.nodes.root!.children).toEqual(["early", "late"]);
    expect(t.nodes.late!.props).toEqual({ content: "v2" });
    t = addComponent({ type: "container", id: "root", props: { gap: 4 } })(t);
    expect(t.nodes.root!.children).toEqual(["early", "late"]);
  });

  it("resolves $id references only for known ids", () => {
    const known = new Set(["display", "name"]);
    const values: Record<string, unknown> = { display: "7×6", name: "Ada" };
    expect(resolveParams({ expression: "$display", greet: "Hi $name, you owe $5", n: [1, "$name"] }, known, (id) => values[id])).toEqual({
      expression: "7×6",
      greet: "Hi Ada, you owe $5",
      n: [1, "Ada"],
    });
  });

  it("keeps component state per window", () => {
    act(() => useAppState.setState({ byWindow: { a: { x: 1 }, b: { x: 2 } } }));
    expect(useAppState.getState().byWindow.a!.x).toBe(1);
  });
});
