/**
 * Global keyboard shortcuts: which key press means what, as a pure function
 * (tested alone), and the one hook that listens for them.
 *
 * Ctrl and ⌘ are interchangeable, so the same keys work on every host. In an
 * ordinary browser tab some are the browser's or the OS's (Ctrl+W closes the
 * tab, Alt+Tab switches host windows); in an app window (`chromium --app=URL`)
 * or a kiosk they reach the page.
 */
export type ShortcutAction = "launcher" | "close" | "minimize" | "switch-next" | "switch-prev" | "menubar" | "region-next" | "region-prev";

export interface KeyLike {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
  shiftKey: boolean;
}

export function matchShortcut(e: KeyLike): ShortcutAction | null {
  const mod = e.ctrlKey || e.metaKey;
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  if (mod && !e.altKey && !e.shiftKey) {
    if (key === "k") return "launcher";
    if (key === "w") return "close";
    if (key === "m") return "minimize";
  }
  if (e.altKey && !mod && key === "Tab") return e.shiftKey ? "switch-prev" : "switch-next";
  // F10 reaches the menu bar, as in GNOME and Windows: the way back from a window by keyboard.
  if (key === "F10" && !mod && !e.altKey && !e.shiftKey) return "menubar";
  // F6 (or Ctrl+F6) moves between the regions: window, dock, menu bar, desktop; Shift goes back.
  if (key === "F6" && !e.altKey && !e.metaKey) return e.shiftKey ? "region-prev" : "region-next";
  return null;
}
