import { create } from "zustand";
import { api } from "../api/client";
import type { RegistryApp } from "../api/schemas";

/** The registry as last fetched from GET /api/registry/apps. */
export interface RegistryState {
  phase: "idle" | "loading" | "ok" | "error";
  apps: RegistryApp[];
  error: string;
}

export const useRegistry = create<RegistryState>()(() => ({ phase: "idle", apps: [], error: "" }));

export async function loadRegistry(): Promise<void> {
  useRegistry.setState((s) => ({ ...s, phase: s.phase === "ok" ? "ok" : "loading" }));
  try {
    const apps = await api.listRegistry();
    useRegistry.setState({ phase: "ok", apps, error: "" });
  } catch (err) {
    useRegistry.setState((s) => ({ ...s, phase: "error", error: err instanceof Error ? err.message : String(err) }));
  }
}

export const resetRegistry = () => useRegistry.setState({ phase: "idle", apps: [], error: "" });
