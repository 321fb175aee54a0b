import { create } from "zustand";
import type { Size } from "./geometry";
import { initialWm, type WmState } from "./functions";

/**
 * The window manager's store: state plus one `apply` that runs a pure change
 * from functions.ts. Components read it through narrow selectors.
 */
export interface WmStore extends WmState {
  apply: (change: (s: WmState) => WmState) => void;
}

export const useWm = create<WmStore>()((set) => ({
  ...initialWm,
  apply: (change) =>
    set((s) => {
      const { apply: _apply, ...current } = s;
      const next = change(current);
      return next === current ? s : next;
    }),
}));

export function resetWm(): void {
  useWm.setState({ ...initialWm });
}

export function viewport(): Size {
  return { width: window.innerWidth, height: window.innerHeight };
}
