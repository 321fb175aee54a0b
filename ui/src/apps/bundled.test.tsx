import { render, screen } from "@testing-library/react";
import { Suspense } from "react";
import { describe, expect, it } from "vitest";
import { bundledApp, bundledIds } from "./bundled";
import type { AppContext } from "./context";

describe("bundled native web apps (apps/native/<id>/)", () => {
  it("finds the shipped modules and renders one lazily with its context", async () => {
    expect(bundledIds()).toContain("sysinfo");
    expect(bundledApp("nope")).toBeNull();
    const SysInfo = bundledApp("sysinfo")!;
    const calls: string[] = [];
    let title = "";
    const ctx = {
      appId: "sysinfo",
      windowId: "w1",
      serverId: "a1",
      state: { get: (_k: string, f: unknown) => f, set: () => {} },
      execute: async (tool: string) => {
        calls.push(tool);
        return { os: "Debian", hostname: "box", cpus: 2, memory_total_bytes: 2 * 1024 ** 3 };
      },
      window: { setTitle: (t: string) => (title = t), close: () => {}, minimize: () => {}, focus: () => {} },
    } as unknown as AppContext;
    render(
      <Suspense fallback={<p>loading</p>}>
        <SysInfo ctx={ctx} />
      </Suspense>,
    );
    const table = await screen.findByRole("table", { name: "This computer" });
    expect(table.textContent).toContain("2.0 GiB");
    expect(calls).toEqual(["system.info"]);
    expect(title).toBe("About box");
  });
});
