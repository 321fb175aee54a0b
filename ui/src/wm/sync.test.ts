import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { initialWm, openWindow, setWindowRect } from "./functions";
import { createGeometrySync } from "./sync";

const vp = { width: 1280, height: 800 };

describe("createGeometrySync", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("sends one POST per window after changes settle, only for server-known apps", async () => {
    const send = vi.fn(async () => undefined);
    const sync = createGeometrySync(send, (id) => (id === "local" ? null : `srv-${id}`), 400);
    let s = openWindow({ id: "a", appId: "calc", title: "Calc", viewport: vp })(initialWm);
    s = openWindow({ id: "local", appId: "settings", title: "Settings", viewport: vp })(s);
    sync.onChange(s);
    for (let i = 0; i < 10; i++) {
      s = setWindowRect("a", { x: 100 + i, y: 100, width: 400, height: 300 })(s);
      sync.onChange(s);
      vi.advanceTimersByTime(50);
    }
    expect(send).not.toHaveBeenCalled();
    vi.advanceTimersByTime(400);
    expect(send).toHaveBeenCalledTimes(1);
    expect(send).toHaveBeenCalledWith("srv-a", { x: 109, y: 100, width: 400, height: 300, state: "normal", z: 0 });
    sync.onChange(s);
    vi.advanceTimersByTime(1000);
    expect(send).toHaveBeenCalledTimes(1);
    sync.dispose();
  });
});
