import { create } from "zustand";
import { fetchHealth } from "./fetchHealth";
import type { Health } from "./schema";

export const HEALTH_POLL_MS = 5_000;

export type HealthState =
  | { phase: "loading" }
  | { phase: "ok"; health: Health; updatedAt: number }
  /** `last` is the most recent good report, shown as stale under the error. */
  | { phase: "error"; error: string; failedAt: number; last: Health | null };

interface HealthStore {
  state: HealthState;
  /** Fetches /health once and records the outcome. Never throws. */
  refresh: () => Promise<void>;
}

const initial: HealthState = { phase: "loading" };

// Each refresh gets a number; an answer that arrives after a newer request
// was started is dropped, so a slow response can't overwrite a fresh one.
let latestRequest = 0;

export const useHealthStore = create<HealthStore>()((set, get) => ({
  state: initial,
  refresh: async () => {
    const request = ++latestRequest;
    try {
      const health = await fetchHealth();
      if (request !== latestRequest) return;
      set({ state: { phase: "ok", health, updatedAt: Date.now() } });
    } catch (err) {
      if (request !== latestRequest) return;
      const previous = get().state;
      const last =
        previous.phase === "ok" ? previous.health : previous.phase === "error" ? previous.last : null;
      const error = err instanceof Error ? err.message : String(err);
      set({ state: { phase: "error", error, failedAt: Date.now(), last } });
    }
  },
}));

/** Test helper: back to the state of a fresh page. */
export function resetHealthStore(): void {
  latestRequest = 0;
  useHealthStore.setState({ state: initial });
}
