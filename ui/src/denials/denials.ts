/**
 * Denials: when the kernel refuses an app something, the server sends
 * `denial` on /api/stream; the app's window shows a banner saying what and
 * why, with "Allow once" and "Always allow", which call
 * `POST /api/apps/{id}/grants` {"capability", "scope": "once"|"always"} with the
 * grant the kernel offered (none offered: no grant can allow it, no buttons).
 */
import { create } from "zustand";
import { api } from "../api/client";
import { stream } from "../api/stream";
import { notify } from "../shell/store";

export interface Denial {
  key: number;
  appId: string;
  /** What it tried: "read /home/u/notes.txt". */
  access: string;
  reason: string;
  /** The grant that would allow it ("read:/home/u/notes.txt"), if any can. */
  capability?: string | null | undefined;
  /** Which wall refused it: "capability", "lsm" or "cgroup_connect" (absent from older servers). */
  wall?: string | undefined;
}

export const useDenials = create<{ byApp: Record<string, Denial[]> }>()(() => ({ byApp: {} }));

let seq = 0;
export const addDenial = (d: Omit<Denial, "key">) =>
  useDenials.setState((s) => ({ byApp: { ...s.byApp, [d.appId]: [...(s.byApp[d.appId] ?? []).slice(-4), { ...d, key: ++seq }] } }));
export const dropDenial = (appId: string, key: number) =>
  useDenials.setState((s) => ({ byApp: { ...s.byApp, [appId]: (s.byApp[appId] ?? []).filter((d) => d.key !== key) } }));

export async function grant(d: Denial, mode: "once" | "always"): Promise<void> {
  try {
    if (!d.capability) return;
    await api.grant(d.appId, { capability: d.capability, scope: mode });
    dropDenial(d.appId, d.key);
    notify("info", mode === "once" ? `Allowed once: ${d.access}` : `Always allowed: ${d.access}`);
  } catch (err) {
    notify("error", `Granting failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

let listening: (() => void) | null = null;
/** Starts listening for denials on the stream (once). */
export function listenForDenials(): void {
  listening ??= stream().subscribe((m) => {
    if (m.type === "denial") addDenial({ appId: m.app_id, access: m.access, reason: m.reason, capability: m.capability, wall: m.wall });
  });
}
