import { describe, expect, it } from "vitest";
import {
  cascadePosition,
  defaultWindowSize,
  MAX_SHARE,
  DOCK_RESERVE,
  EDGES,
  MENUBAR_HEIGHT,
  moveRect,
  resizeRect,
  SNAP_ZONES,
  snapZoneAt,
  workArea,
  zoneRect,
} from "./geometry";

const vp = { width: 1280, height: 800 };
const min = { width: 200, height: 120 };
const start = { x: 100, y: 100, width: 400, height: 300 };

describe("resizeRect", () => {
  it("moves only the dragged edges, from each of the 8 handles", () => {
    expect(resizeRect(start, "e", 50, 999, min)).toEqual({ x: 100, y: 100, width: 450, height: 300 });
    expect(resizeRect(start, "s", 999, 40, min)).toEqual({ x: 100, y: 100, width: 400, height: 340 });
    expect(resizeRect(start, "w", -30, 0, min)).toEqual({ x: 70, y: 100, width: 430, height: 300 });
    expect(resizeRect(start, "n", 0, -20, min)).toEqual({ x: 100, y: 80, width: 400, height: 320 });
    expect(resizeRect(start, "se", 10, 20, min)).toEqual({ x: 100, y: 100, width: 410, height: 320 });
    expect(resizeRect(start, "nw", 10, 20, min)).toEqual({ x: 110, y: 120, width: 390, height: 280 });
    expect(resizeRect(start, "ne", 10, 20, min)).toEqual({ x: 100, y: 120, width: 410, height: 280 });
    expect(resizeRect(start, "sw", 10, 20, min)).toEqual({ x: 110, y: 100, width: 390, height: 320 });
  });

  it("never goes under the minimum size, and keeps the opposite edge fixed", () => {
    for (const edge of EDGES) {
      const r = resizeRect(start, edge, edge.includes("w") ? 1000 : -1000, edge.includes("n") ? 1000 : -1000, min);
      expect(r.width).toBeGreaterThanOrEqual(min.width);
      expect(r.height).toBeGreaterThanOrEqual(min.height);
    }
    const w = resizeRect(start, "w", 1000, 0, min);
    expect(w.x + w.width).toBe(start.x + start.width);
    const n = resizeRect(start, "n", 0, 1000, min);
    expect(n.y + n.height).toBe(start.y + start.height);
  });

  it("does not let the top edge go under the menu bar", () => {
    expect(resizeRect(start, "n", 0, -500, min).y).toBe(MENUBAR_HEIGHT);
  });
});

describe("moveRect", () => {
  it("keeps the title bar reachable", () => {
    expect(moveRect(start, 5000, 5000, vp).x).toBeLessThan(vp.width);
    expect(moveRect(start, -5000, -5000, vp)).toMatchObject({ y: MENUBAR_HEIGHT });
    expect(moveRect(start, -5000, 0, vp).x + start.width).toBeGreaterThan(0);
  });
});

describe("snapZoneAt", () => {
  it("maps screen edges to the nine zones", () => {
    expect(snapZoneAt({ x: 640, y: MENUBAR_HEIGHT + 2 }, vp)).toBe("maximize");
    expect(snapZoneAt({ x: 640, y: 0 }, vp)).toBe("maximize");
    expect(snapZoneAt({ x: 0, y: 400 }, vp)).toBe("left");
    expect(snapZoneAt({ x: 1279, y: 400 }, vp)).toBe("right");
    expect(snapZoneAt({ x: 0, y: 60 }, vp)).toBe("top-left");
    expect(snapZoneAt({ x: 1279, y: 60 }, vp)).toBe("top-right");
    expect(snapZoneAt({ x: 2, y: 790 }, vp)).toBe("bottom-left");
    expect(snapZoneAt({ x: 1278, y: 790 }, vp)).toBe("bottom-right");
    expect(snapZoneAt({ x: 300, y: 799 }, vp)).toBe("left-third");
    expect(snapZoneAt({ x: 900, y: 799 }, vp)).toBe("right-third");
  });

  it("arms nothing away from the edges", () => {
    expect(snapZoneAt({ x: 640, y: 400 }, vp)).toBeNull();
    expect(snapZoneAt({ x: 40, y: 400 }, vp)).toBeNull();
  });
});

describe("zoneRect", () => {
  const area = workArea(vp);
  it("tiles the work area between the menu bar and the dock", () => {
    expect(area).toEqual({ x: 0, y: MENUBAR_HEIGHT, width: 1280, height: 800 - MENUBAR_HEIGHT - DOCK_RESERVE });
    expect(zoneRect("maximize", vp)).toEqual(area);
    const l = zoneRect("left", vp);
    const r = zoneRect("right", vp);
    expect(l.width + r.width).toBe(area.width);
    expect(r.x).toBe(l.x + l.width);
    const tl = zoneRect("top-left", vp);
    const bl = zoneRect("bottom-left", vp);
    expect(tl.height + bl.height).toBe(area.height);
    expect(zoneRect("left-third", vp).width).toBe(Math.round(1280 / 3));
    const rt = zoneRect("right-third", vp);
    expect(rt.x + rt.width).toBe(1280);
  });

  it("gives every zone a rect inside the work area", () => {
    for (const z of SNAP_ZONES) {
      const r = zoneRect(z, vp);
      expect(r.x).toBeGreaterThanOrEqual(area.x);
      expect(r.y).toBeGreaterThanOrEqual(area.y);
      expect(r.x + r.width).toBeLessThanOrEqual(area.x + area.width);
      expect(r.y + r.height).toBeLessThanOrEqual(area.y + area.height);
    }
  });
});

describe("cascadePosition", () => {
  it("steps down and right, then starts a new round inside the work area", () => {
    const size = { width: 600, height: 400 };
    const p0 = cascadePosition(0, size, vp);
    const p1 = cascadePosition(1, size, vp);
    expect(p1.x - p0.x).toBe(32);
    expect(p1.y - p0.y).toBe(32);
    for (let i = 0; i < 40; i++) {
      const p = cascadePosition(i, size, vp);
      expect(p.y + size.height).toBeLessThanOrEqual(workArea(vp).y + workArea(vp).height);
      expect(p.x + size.width).toBeLessThanOrEqual(vp.width);
    }
  });
});

const HD = { width: 1280, height: 720 };
const FULL_HD = { width: 1920, height: 1080 };

describe("defaultWindowSize", () => {
  const min = { width: 360, height: 200 };

  it("opens at the preferred size on a 1280×720 screen and grows with a 1920×1080 one", () => {
    const terminal = { width: 680, height: 420 };
    expect(defaultWindowSize(terminal, min, HD)).toEqual(terminal);
    const big = defaultWindowSize(terminal, min, FULL_HD);
    expect(big.width).toBeGreaterThanOrEqual(terminal.width * 1.3);
    expect(big.height).toBeGreaterThanOrEqual(terminal.height * 1.3);
    // The same share of the work area on both screens, give or take the scale cap.
    const share = (s: { width: number }, vp: typeof HD) => s.width / workArea(vp).width;
    expect(Math.abs(share(big, FULL_HD) - share(terminal, HD))).toBeLessThan(0.05);
  });

  it("grows no further than a share of the work area, unless the app prefers more", () => {
    const area = workArea(FULL_HD);
    const wide = defaultWindowSize({ width: 1180, height: 460 }, min, FULL_HD);
    expect(wide.width).toBe(Math.round(area.width * MAX_SHARE));
    // At 1280 the preferred width is over the share: kept, it still fits.
    expect(defaultWindowSize({ width: 1180, height: 460 }, min, HD).width).toBe(1180);
  });

  it("keeps a fixed (content-sized) size, and never goes under the minimum or over the work area", () => {
    expect(defaultWindowSize({ width: 300, height: 400 }, min, FULL_HD, true)).toEqual({ width: 360, height: 400 });
    const tiny = { width: 800, height: 500 };
    const s = defaultWindowSize({ width: 2000, height: 1500 }, min, tiny);
    expect(s).toEqual({ width: workArea(tiny).width, height: workArea(tiny).height });
  });
});

describe("cascade placement at 1280×720 and 1920×1080", () => {
  for (const vp of [HD, FULL_HD]) {
    it(`centres the first window across the ${vp.width}×${vp.height} work area and keeps every later one on screen`, () => {
      const area = workArea(vp);
      const size = defaultWindowSize({ width: 680, height: 420 }, { width: 360, height: 200 }, vp);
      const first = cascadePosition(0, size, vp);
      expect(Math.abs(first.x + size.width / 2 - (area.x + area.width / 2))).toBeLessThanOrEqual(1);
      expect(first.y).toBeGreaterThan(area.y);
      const second = cascadePosition(1, size, vp);
      expect(second.x).toBeGreaterThan(first.x);
      expect(second.y).toBeGreaterThan(first.y);
      for (let i = 0; i < 60; i++) {
        const p = cascadePosition(i, size, vp);
        expect(p.x).toBeGreaterThanOrEqual(area.x);
        expect(p.y).toBeGreaterThanOrEqual(area.y);
        expect(p.x + size.width).toBeLessThanOrEqual(area.x + area.width);
        expect(p.y + size.height).toBeLessThanOrEqual(area.y + area.height);
      }
    });
  }

  it("steps further on the larger screen", () => {
    const size = { width: 600, height: 400 };
    const step = (vp: typeof HD) => cascadePosition(1, size, vp).x - cascadePosition(0, size, vp).x;
    expect(step(FULL_HD)).toBeGreaterThan(step(HD));
  });

  it("keeps a window wider than the work area at its left edge", () => {
    const p = cascadePosition(3, { width: 1500, height: 400 }, HD);
    expect(p.x).toBe(0);
  });
});
