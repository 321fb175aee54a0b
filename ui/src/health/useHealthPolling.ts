import { useEffect } from "react";
import { HEALTH_POLL_MS, useHealthStore } from "./store";

/**
 * Polls /health: once on mount, then HEALTH_POLL_MS after each answer
 * (so a slow server never has two requests in flight from us).
 */
export function useHealthPolling(intervalMs: number = HEALTH_POLL_MS): void {
  const refresh = useHealthStore((s) => s.refresh);
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      await refresh();
      if (!stopped) timer = setTimeout(tick, intervalMs);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [refresh, intervalMs]);
}
