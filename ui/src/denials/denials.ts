/**
 * Denials: when the kernel refuses an app something, the server sends
 * `denial` on /api/stream; the app's window shows a banner saying what and
 * why, with "Allow once" and "Always allow", which call
 * `POST /api/apps/{id}/grants` {"capability", "scope": "once"|"always"} with the
 * grant the kernel offered (none offered: no grant can allow it, no buttons).
 *
 * The banner tells it as the app sees it (`access`, `reason` and `path` name the
 * virtual path the app asked for); `capability` names the host path the kernel's
 * policy holds and is only sent back in the grant request, never shown.
 */
import { create } from "zustand";
import { api } from "../api/client";
import { stream } from "../api/stream";
import { notify } from "../shell/store";

export interface Denial {
  key: number;
  appId: string;
  /** What it tried, in the app's view: "read /home/u/notes.txt". */
  access: string;
  reason: string;
  /** The path as the app named it, when the access is to one. */
  path?: string | null | undefined;
  /** The grant that would allow it ("read:/var/lib/agentos/vfs/notes.txt"), if any can: for the request only. */
  capability?: string | null | undefined;
  /** Which wall refused it: "capability", "lsm", "cgroup_connect", "cgroup_bind", "seccomp",
   * "landlock" or "mount_namespace" (absent from older servers). */
  wall?: string | undefined;
}

export const useDenials = create<{ byApp: Record<string, Denial[]> }>()(() => ({ byApp: {} }));

/** Banners kept per app: the newest. */
export const KEPT_PER_APP = 5;

let seq = 0;
/** Keeps `d` as the app's newest banner. The same refusal again (same access, same wall)
 * replaces its older banner instead of stacking a copy: a program retrying a call, or
 * probing a path its view hides, shows one banner, not five of the same. */
export const addDenial = (d: Omit<Denial, "key">) =>
  useDenials.setState((s) => {
    const others = (s.byApp[d.appId] ?? []).filter((o) => o.access !== d.access || o.wall !== d.wall);
    return { byApp: { ...s.byApp, [d.appId]: [...others.slice(-(KEPT_PER_APP - 1)), { ...d, key: ++seq }] } };
  });
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

/** A `denial` message from the stream, as the banner keeps it. */
export const denialOf = (m: { app_id: string; access: string; reason: string; path?: string | null | undefined; capability?: string | null | undefined; wall?: string | undefined }): Omit<Denial, "key"> => ({
  appId: m.app_id,
  access: m.access,
  reason: m.reason,
  path: m.path,
  capability: m.capability,
  wall: m.wall,
});

let listening: (() => void) | null = null;
/** Stops listening and forgets every denial (at sign-out, and between tests). */
export function resetDenials(): void {
  listening?.();
  listening = null;
  useDenials.setState({ byApp: {} });
}
/** Starts listening for denials on the stream (once). */
export function listenForDenials(): void {
  listening ??= stream().subscribe((m) => {
    if (m.type === "denial") addDenial(denialOf(m));
  });
}
