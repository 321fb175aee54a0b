/**
 * The window manager's state and every change to it, as pure functions of the
 * form `(args) => (current) => next` (daedalOS's contexts/process/functions.ts).
 * The zustand store (store.ts) only applies them, so each is unit-tested alone.
 */
import {
  cascadePosition,
  DEFAULT_MIN_SIZE,
  defaultWindowSize,
  fitRect,
  zoneRect,
  type Point,
  type Rect,
  type Size,
  type SnapZone,
} from "./geometry";

export type WindowMode = "normal" | "minimized" | "maximized";

export interface Win {
  /** Window id: the app instance id when the services layer knows the app. */
  id: string;
  /** Which app (directory or registry id) this window shows. */
  appId: string;
  title: string;
  icon: string;
  rect: Rect;
  mode: WindowMode;
  /** Mode to go back to when un-minimised. */
  prevMode: Exclude<WindowMode, "minimized">;
  /** Zone the window is snapped to (its rect is that zone's), if any. */
  snapped: SnapZone | null;
  /** Rect before maximise or snap, restored by restore/unsnap. */
  restoreRect: Rect | null;
  minSize: Size;
}

export interface WmState {
  windows: Record<string, Win>;
  /** Z-order, bottom first: the last id is drawn on top. */
  order: string[];
  focused: string | null;
  /** Windows opened so far, for cascade placement. */
  opened: number;
}

export const initialWm: WmState = { windows: {}, order: [], focused: null, opened: 0 };

type Change = (s: WmState) => WmState;

/** Preferred size of a window whose app names none. */
export const DEFAULT_SIZE: Size = { width: 640, height: 440 };

export interface OpenArgs {
  id: string;
  appId: string;
  title: string;
  icon?: string;
  /** The app's preferred size on a 1280×720 screen; it grows on a larger one (defaultWindowSize). */
  size?: Size;
  /** The app's content has a natural size (a Blueprint): opened at exactly `size`, on any screen. */
  fixedSize?: boolean;
  minSize?: Size;
  /** Geometry to restore (a saved session); otherwise cascade placement. */
  rect?: Rect;
  mode?: WindowMode;
  viewport: Size;
}

/** Topmost window that is not minimised, or null. */
export function topVisible(s: Pick<WmState, "order" | "windows">, except?: string): string | null {
  for (let i = s.order.length - 1; i >= 0; i--) {
    const id = s.order[i]!;
    if (id !== except && s.windows[id]?.mode !== "minimized") return id;
  }
  return null;
}

function update(s: WmState, id: string, patch: (w: Win) => Partial<Win>): WmState {
  const w = s.windows[id];
  if (!w) return s;
  return { ...s, windows: { ...s.windows, [id]: { ...w, ...patch(w) } } };
}

function raise(order: string[], id: string): string[] {
  return [...order.filter((o) => o !== id), id];
}

/** Opens a window on top and focuses it; an id already open is just focused. */
export const openWindow =
  (a: OpenArgs): Change =>
  (s) => {
    if (s.windows[a.id]) return focusWindow(a.id)(s);
    const minSize = a.minSize ?? DEFAULT_MIN_SIZE;
    const size = defaultWindowSize(a.size ?? DEFAULT_SIZE, minSize, a.viewport, a.fixedSize);
    const rect = a.rect
      ? fitRect(a.rect, a.viewport, minSize)
      : fitRect({ ...cascadePosition(s.opened, size, a.viewport), ...size }, a.viewport, minSize);
    const maximized = a.mode === "maximized";
    const win: Win = {
      id: a.id,
      appId: a.appId,
      title: a.title,
      icon: a.icon ?? "",
      rect: maximized ? zoneRect("maximize", a.viewport) : rect,
      mode: a.mode ?? "normal",
      prevMode: maximized ? "maximized" : "normal",
      snapped: null,
      restoreRect: maximized ? rect : null,
      minSize,
    };
    const minimized = win.mode === "minimized";
    return {
      windows: { ...s.windows, [a.id]: win },
      order: minimized ? [a.id, ...s.order] : [...s.order, a.id],
      focused: minimized ? s.focused : a.id,
      opened: s.opened + 1,
    };
  };

export const closeWindow =
  (id: string): Change =>
  (s) => {
    if (!s.windows[id]) return s;
    const { [id]: _closed, ...windows } = s.windows;
    const order = s.order.filter((o) => o !== id);
    const focused = s.focused === id ? topVisible({ order, windows }) : s.focused;
    return { ...s, windows, order, focused, opened: order.length === 0 ? 0 : s.opened };
  };

/** Raises and focuses a window, un-minimising it. */
export const focusWindow =
  (id: string): Change =>
  (s) => {
    const w = s.windows[id];
    if (!w) return s;
    const next = w.mode === "minimized" ? update(s, id, (x) => ({ mode: x.prevMode })) : s;
    if (next === s && s.focused === id && s.order[s.order.length - 1] === id) return s;
    return { ...next, order: raise(s.order, id), focused: id };
  };

export const minimizeWindow =
  (id: string): Change =>
  (s) => {
    const w = s.windows[id];
    if (!w || w.mode === "minimized") return s;
    const next = update(s, id, (x) => ({ mode: "minimized", prevMode: x.mode === "maximized" ? "maximized" : "normal" }));
    return { ...next, focused: s.focused === id ? topVisible(next, id) : s.focused };
  };

export const maximizeWindow =
  (id: string, viewport: Size): Change =>
  (s) =>
    focusWindow(id)(
      update(s, id, (w) => ({
        mode: "maximized",
        prevMode: "maximized",
        snapped: null,
        restoreRect: w.mode === "maximized" || w.snapped ? w.restoreRect : w.rect,
        rect: zoneRect("maximize", viewport),
      })),
    );

/** Back from maximised or snapped to the rect it had before. */
export const restoreWindow =
  (id: string): Change =>
  (s) =>
    focusWindow(id)(
      update(s, id, (w) => ({
        mode: "normal",
        prevMode: "normal",
        snapped: null,
        rect: w.restoreRect ?? w.rect,
        restoreRect: null,
      })),
    );

export const toggleMaximize =
  (id: string, viewport: Size): Change =>
  (s) => {
    const w = s.windows[id];
    if (!w) return s;
    return w.mode === "maximized" ? restoreWindow(id)(s) : maximizeWindow(id, viewport)(s);
  };

/** Moves or resizes a window; a window moved by hand is no longer snapped or maximised. */
export const setWindowRect =
  (id: string, rect: Rect): Change =>
  (s) =>
    update(s, id, (w) => ({
      rect: {
        ...rect,
        width: Math.max(rect.width, w.minSize.width),
        height: Math.max(rect.height, w.minSize.height),
      },
      mode: w.mode === "minimized" ? "minimized" : "normal",
      prevMode: "normal",
      snapped: null,
      restoreRect: null,
    }));

export const snapWindow =
  (id: string, zone: SnapZone, viewport: Size): Change =>
  (s) => {
    if (zone === "maximize") return maximizeWindow(id, viewport)(s);
    return focusWindow(id)(
      update(s, id, (w) => ({
        mode: "normal",
        prevMode: "normal",
        snapped: zone,
        restoreRect: w.mode === "maximized" || w.snapped ? w.restoreRect : w.rect,
        rect: zoneRect(zone, viewport),
      })),
    );
  };

/**
 * A maximised or snapped window grabbed by its title bar gets its old size
 * back, placed so the pointer keeps the same relative spot on the title bar.
 */
export const unsnapForDrag =
  (id: string, pointer: Point): Change =>
  (s) => {
    const w = s.windows[id];
    if (!w || (!w.snapped && w.mode !== "maximized") || !w.restoreRect) return s;
    const ratio = (pointer.x - w.rect.x) / w.rect.width;
    const width = w.restoreRect.width;
    const rect = { x: Math.round(pointer.x - ratio * width), y: w.rect.y, width, height: w.restoreRect.height };
    return update(s, id, () => ({ rect, mode: "normal", prevMode: "normal", snapped: null, restoreRect: null }));
  };

/** Keeps maximised and snapped windows filling their zone, and every window on screen, after a viewport resize. */
export const fitToViewport =
  (viewport: Size): Change =>
  (s) => {
    const windows: Record<string, Win> = {};
    for (const [id, w] of Object.entries(s.windows)) {
      const rect =
        w.mode === "maximized" || w.prevMode === "maximized"
          ? zoneRect("maximize", viewport)
          : w.snapped
            ? zoneRect(w.snapped, viewport)
            : fitRect(w.rect, viewport, w.minSize);
      windows[id] = { ...w, rect };
    }
    return { ...s, windows };
  };

export const setWindowTitle =
  (id: string, title: string): Change =>
  (s) =>
    update(s, id, () => ({ title }));

/** Windows in most-recently-used order (top first), the order Alt+Tab cycles through. */
export function mruOrder(s: Pick<WmState, "order">): string[] {
  return [...s.order].reverse();
}
