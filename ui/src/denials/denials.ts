/**
 * Denials: when the kernel refuses an app something, the server sends
 * `denial` on /api/stream; the app's window shows a banner saying what and
 * why, with "Allow once" and "Always allow", which call
 * `POST /api/apps/{id}/grants` {"resource","operation","mode": "once"|"always"}.
 */
import { create } from "zustand";
import { api } from "../api/client";
import { stream } from "../api/stream";
import { notify } from "../shell/store";

export interface Denial {
  key: number;
  appId: string;
  reason: string;
  resource?: string | undefined;
  operation?: string | undefined;
}

export const useDenials = create<{ byApp: Record<string, Denial[]> }>()(() => ({ byApp: {} }));

let seq = 0;
export const addDenial = (d: Omit<Denial, "key">) =>
  useDenials.setState((s) => ({ byApp: { ...s.byApp, [d.appId]: [...(s.byApp[d.appId] ?? []).slice(-4), { ...d, key: ++seq }] } }));
export const dropDenial = (appId: string, key: number) =>
  useDenials.setState((s) => ({ byApp: { ...s.byApp, [appId]: (s.byApp[appId] ?? []).filter((d) => d.key !== key) } }));

export async function grant(d: Denial, mode: "once" | "always"): Promise<void> {
  try {
    await api.grant(d.appId, { resource: d.resource ?? "", operation: d.operation ?? "", mode });
    dropDenial(d.appId, d.key);
    notify("info", mode === "once" ? `Allowed once: ${d.operation ?? ""} ${d.resource ?? ""}` : `Always allowed: ${d.operation ?? ""} ${d.resource ?? ""}`);
  } catch (err) {
    notify("error", `Granting failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

let listening: (() => void) | null = null;
/** Starts listening for denials on the stream (once). */
export function listenForDenials(): void {
  listening ??= stream().subscribe((m) => {
    if (m.type === "denial") addDenial({ appId: m.app_id, reason: m.reason, resource: m.resource, operation: m.operation });
  });
}
