import type { WindowGeometry } from "../api/schemas";
import type { Win, WmState } from "./functions";

export const GEOMETRY_DEBOUNCE_MS = 400;

/** What `POST /api/apps/{id}/window` is sent for a window at z-index `z`. */
export function geometryOf(w: Win, z: number): WindowGeometry {
  const r = w.rect;
  return { x: Math.round(r.x), y: Math.round(r.y), width: Math.round(r.width), height: Math.round(r.height), state: w.mode, z };
}

/**
 * Reports window geometry to the services layer, debounced per window: a drag
 * sends one request after the pointer rests, not one per frame. Windows whose
 * app the server does not know (`serverIdOf` → null) are not reported.
 */
export function createGeometrySync(
  send: (serverId: string, g: WindowGeometry) => Promise<unknown>,
  serverIdOf: (windowId: string) => string | null,
  delayMs = GEOMETRY_DEBOUNCE_MS,
) {
  const last = new Map<string, string>();
  const timers = new Map<string, ReturnType<typeof setTimeout>>();

  function onChange(s: Pick<WmState, "windows" | "order">): void {
    s.order.forEach((id, z) => {
      const w = s.windows[id];
      const serverId = serverIdOf(id);
      if (!w || !serverId) return;
      const g = geometryOf(w, z);
      const key = JSON.stringify(g);
      if (last.get(id) === key) return;
      last.set(id, key);
      clearTimeout(timers.get(id));
      timers.set(
        id,
        setTimeout(() => {
          timers.delete(id);
          send(serverId, g).catch(() => {
            // Forget it so the next change retries; the failure is not the user's to fix here.
            last.delete(id);
          });
        }, delayMs),
      );
    });
    for (const id of [...last.keys()]) {
      if (!s.windows[id]) {
        last.delete(id);
        clearTimeout(timers.get(id));
        timers.delete(id);
      }
    }
  }

  return {
    onChange,
    /** Marks a geometry as already known to the server (e.g. it came from it). */
    prime(id: string, w: Win, z: number) {
      last.set(id, JSON.stringify(geometryOf(w, z)));
    },
    dispose() {
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
    },
  };
}
