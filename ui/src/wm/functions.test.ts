import { describe, expect, it } from "vitest";
import { zoneRect } from "./geometry";
import {
  closeWindow,
  fitToViewport,
  focusWindow,
  initialWm,
  maximizeWindow,
  minimizeWindow,
  mruOrder,
  openWindow,
  restoreWindow,
  setWindowRect,
  snapWindow,
  toggleMaximize,
  unsnapForDrag,
  type WmState,
} from "./functions";

const vp = { width: 1280, height: 800 };
const open = (id: string) => openWindow({ id, appId: id, title: id.toUpperCase(), viewport: vp, size: { width: 500, height: 300 } });
const pipe = (s: WmState, ...changes: ((s: WmState) => WmState)[]) => changes.reduce((acc, c) => c(acc), s);

describe("window functions", () => {
  it("opens a window larger on a 1920×1080 screen, but a content-sized one as it asked", () => {
    const full = { width: 1920, height: 1080 };
    const size = { width: 500, height: 300 };
    const grown = openWindow({ id: "a", appId: "a", title: "A", viewport: full, size })(initialWm).windows.a!.rect;
    expect(grown.width).toBeGreaterThan(size.width);
    expect(grown.height).toBeGreaterThan(size.height);
    const fixed = openWindow({ id: "b", appId: "b", title: "B", viewport: full, size, fixedSize: true })(initialWm).windows.b!.rect;
    expect({ width: fixed.width, height: fixed.height }).toEqual(size);
  });

  it("opens on top, focused, with cascade placement", () => {
    const s = pipe(initialWm, open("a"), open("b"));
    expect(s.order).toEqual(["a", "b"]);
    expect(s.focused).toBe("b");
    expect(s.windows.b!.rect.x - s.windows.a!.rect.x).toBe(32);
    expect(s.windows.b!.rect.y - s.windows.a!.rect.y).toBe(32);
  });

  it("opening an open id focuses it instead of duplicating", () => {
    const s = pipe(initialWm, open("a"), open("b"), open("a"));
    expect(s.order).toEqual(["b", "a"]);
    expect(Object.keys(s.windows)).toHaveLength(2);
  });

  it("focus raises to the top of the z-order", () => {
    const s = pipe(initialWm, open("a"), open("b"), open("c"), focusWindow("a"));
    expect(s.order).toEqual(["b", "c", "a"]);
    expect(s.focused).toBe("a");
    expect(mruOrder(s)).toEqual(["a", "c", "b"]);
  });

  it("minimise hands focus to the next visible window; focus restores it", () => {
    let s = pipe(initialWm, open("a"), open("b"), minimizeWindow("b"));
    expect(s.windows.b!.mode).toBe("minimized");
    expect(s.focused).toBe("a");
    s = minimizeWindow("a")(s);
    expect(s.focused).toBeNull();
    s = focusWindow("b")(s);
    expect(s.windows.b!.mode).toBe("normal");
    expect(s.focused).toBe("b");
  });

  it("a maximised window minimised comes back maximised", () => {
    const s = pipe(initialWm, open("a"), maximizeWindow("a", vp), minimizeWindow("a"), focusWindow("a"));
    expect(s.windows.a!.mode).toBe("maximized");
  });

  it("maximise fills the work area and restore brings the old rect back", () => {
    const s0 = pipe(initialWm, open("a"));
    const before = s0.windows.a!.rect;
    const s1 = toggleMaximize("a", vp)(s0);
    expect(s1.windows.a!.rect).toEqual(zoneRect("maximize", vp));
    expect(s1.windows.a!.mode).toBe("maximized");
    const s2 = toggleMaximize("a", vp)(s1);
    expect(s2.windows.a!.rect).toEqual(before);
    expect(s2.windows.a!.mode).toBe("normal");
  });

  it("snap takes the zone's rect and remembers the old one, across snaps", () => {
    const s0 = pipe(initialWm, open("a"));
    const before = s0.windows.a!.rect;
    const s = pipe(s0, snapWindow("a", "left", vp), snapWindow("a", "top-right", vp));
    expect(s.windows.a!.rect).toEqual(zoneRect("top-right", vp));
    expect(s.windows.a!.snapped).toBe("top-right");
    expect(restoreWindow("a")(s).windows.a!.rect).toEqual(before);
    expect(snapWindow("a", "maximize", vp)(s0).windows.a!.mode).toBe("maximized");
  });

  it("dragging a snapped window gives back its size under the pointer", () => {
    const s0 = pipe(initialWm, open("a"));
    const size = s0.windows.a!.rect;
    const snapped = snapWindow("a", "left", vp)(s0);
    const left = snapped.windows.a!.rect;
    const s = unsnapForDrag("a", { x: left.x + left.width / 2, y: left.y + 10 })(snapped);
    const r = s.windows.a!.rect;
    expect(r.width).toBe(size.width);
    expect(r.height).toBe(size.height);
    expect(r.x + r.width / 2).toBeCloseTo(left.x + left.width / 2, 0);
    expect(s.windows.a!.snapped).toBeNull();
  });

  it("setWindowRect enforces the minimum size", () => {
    const s = pipe(initialWm, open("a"), setWindowRect("a", { x: 10, y: 40, width: 10, height: 10 }));
    expect(s.windows.a!.rect.width).toBe(s.windows.a!.minSize.width);
    expect(s.windows.a!.rect.height).toBe(s.windows.a!.minSize.height);
  });

  it("close drops the window and focuses the next one", () => {
    const s = pipe(initialWm, open("a"), open("b"), closeWindow("b"));
    expect(s.windows.b).toBeUndefined();
    expect(s.order).toEqual(["a"]);
    expect(s.focused).toBe("a");
    expect(closeWindow("zzz")(s)).toBe(s);
  });

  it("unknown ids change nothing", () => {
    const s = pipe(initialWm, open("a"));
    for (const c of [focusWindow("x"), minimizeWindow("x"), toggleMaximize("x", vp), setWindowRect("x", { x: 0, y: 0, width: 1, height: 1 })]) {
      expect(c(s)).toEqual(s);
    }
  });

  it("restores a saved geometry and mode", () => {
    const s = openWindow({ id: "a", appId: "a", title: "A", viewport: vp, rect: { x: 300, y: 200, width: 400, height: 300 } })(initialWm);
    expect(s.windows.a!.rect).toEqual({ x: 300, y: 200, width: 400, height: 300 });
    const m = openWindow({ id: "m", appId: "m", title: "M", viewport: vp, rect: { x: 10, y: 40, width: 400, height: 300 }, mode: "minimized" })(s);
    expect(m.focused).toBe("a");
    expect(m.order[0]).toBe("m");
  });

  it("keeps maximised and snapped windows filling their zone after a viewport resize", () => {
    const small = { width: 800, height: 600 };
    const s = pipe(initialWm, open("a"), open("b"), maximizeWindow("a", vp), snapWindow("b", "right", vp), fitToViewport(small));
    expect(s.windows.a!.rect).toEqual(zoneRect("maximize", small));
    expect(s.windows.b!.rect).toEqual(zoneRect("right", small));
  });
});
