import { useEffect, useRef, useState } from "react";
import { ApiError } from "../api/client";

export type Polled<T> =
  | { phase: "loading" }
  | { phase: "ok"; data: T; at: number }
  /** The endpoint does not exist on this server yet (404). */
  | { phase: "unavailable"; error: string }
  | { phase: "error"; error: string; last: T | null };

/** Calls `load` now and `intervalMs` after each answer; a 404 becomes "unavailable". */
export function usePoll<T>(load: () => Promise<T>, intervalMs: number): [Polled<T>, () => void] {
  const [state, setState] = useState<Polled<T>>({ phase: "loading" });
  const loadRef = useRef(load);
  loadRef.current = load;
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout>;
    const run = async () => {
      try {
        const data = await loadRef.current();
        if (!stopped) setState({ phase: "ok", data, at: Date.now() });
      } catch (err) {
        if (stopped) return;
        const message = err instanceof Error ? err.message : String(err);
        if (err instanceof ApiError && err.status === 404) setState({ phase: "unavailable", error: message });
        else setState((s) => ({ phase: "error", error: message, last: s.phase === "ok" ? s.data : s.phase === "error" ? s.last : null }));
      }
      if (!stopped) timer = setTimeout(run, intervalMs);
    };
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [intervalMs, tick]);
  return [state, () => setTick((t) => t + 1)];
}
