import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import appHub from "../../e2e/fixtures/server-app-hub.bp.json";
import calculator from "../../e2e/fixtures/server-calculator.bp.json";
import notes from "../../e2e/fixtures/server-notes.bp.json";
import settings from "../../e2e/fixtures/server-settings.bp.json";
import timer from "../../e2e/fixtures/server-timer.bp.json";
import todo from "../../e2e/fixtures/server-todo.bp.json";
import type { AppContext } from "../apps/context";
import type { Proc } from "../apps/processes";
import BlueprintApp from "./BlueprintApp";

/**
 * The services' prebuilt Blueprints (apps/blueprint/*.bp on the services
 * branch, copied into e2e/fixtures/server-*.bp.json) render without a single
 * error box, and the calculator computes through its own bindings
 * ({tool, args} lists, {{display}} and {{result}}).
 */
const ctx = (windowId: string) =>
  ({
    appId: "x",
    windowId,
    serverId: null,
    state: { get: (_k: string, f: unknown) => f, set: () => {} },
    execute: async () => undefined,
    window: { setTitle: () => {}, close: () => {}, minimize: () => {}, focus: () => {} },
  }) as unknown as AppContext;
const proc = (windowId: string, blueprint: unknown): Proc => ({ windowId, appId: "x", kind: "blueprint", serverId: null, blueprint });

describe("the services' prebuilt Blueprints", () => {
  for (const [name, bp] of Object.entries({ calculator, notes, todo, timer, settings, "app-hub": appHub })) {
    it(`${name} renders with no error box`, () => {
      render(<BlueprintApp ctx={ctx(name)} proc={proc(name, bp)} />);
      const alerts = screen.queryAllByRole("alert").map((a) => a.textContent);
      expect(alerts).toEqual([]);
    });
  }

  it("the calculator: 7 × 6 = 42, 2 + 3 × 4 = 14, 8 ÷ 0 is an error", async () => {
    render(<BlueprintApp ctx={ctx("calc")} proc={proc("calc", calculator)} />);
    const display = screen.getByLabelText("Display") as HTMLInputElement;
    const press = (...keys: string[]) => keys.forEach((k) => fireEvent.click(screen.getByRole("button", { name: k })));
    press("7", "×", "6", "=");
    await vi.waitFor(() => expect(display.value).toBe("42"));
    press("C", "2", "+", "3", "×", "4", "=");
    await vi.waitFor(() => expect(display.value).toBe("14"));
    press("C", "8", "÷", "0", "=");
    expect((await screen.findByRole("alert")).textContent).toContain("division by zero");
  });

  it("the timer's buttons enable and disable each other", async () => {
    render(<BlueprintApp ctx={ctx("timer")} proc={proc("timer", timer)} />);
    fireEvent.click(screen.getByRole("button", { name: "Start" }));
    await vi.waitFor(() => expect((screen.getByRole("button", { name: "Start" }) as HTMLButtonElement).disabled).toBe(true));
  });

  it("the timer counts down each second while running, stops on Pause, and Reset starts over", async () => {
    vi.useFakeTimers();
    try {
      render(<BlueprintApp ctx={ctx("timer-run")} proc={proc("timer-run", timer)} />);
      const shown = () => screen.getByRole("heading").textContent;
      const bar = () => screen.getByRole("progressbar", { name: "Elapsed" });
      expect(shown()).toBe("05:00");
      fireEvent.click(screen.getByRole("button", { name: "Start" }));
      await vi.advanceTimersByTimeAsync(3000);
      expect(bar().getAttribute("aria-valuenow")).toBe("3");
      expect(shown()).toBe("04:57");
      fireEvent.click(screen.getByRole("button", { name: "Pause" }));
      await vi.advanceTimersByTimeAsync(5000);
      expect(shown()).toBe("04:57");
      fireEvent.click(screen.getByRole("button", { name: "Reset" }));
      await vi.advanceTimersByTimeAsync(10);
      expect(shown()).toBe("05:00");
      expect(bar().getAttribute("aria-valuenow")).toBe("0");
    } finally {
      vi.useRealTimers();
    }
  });
});
