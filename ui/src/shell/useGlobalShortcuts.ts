import { useEffect } from "react";
import { closeApp, focusApp, minimizeApp } from "../apps/launch";
import { mruOrder } from "../wm/functions";
import { useWm } from "../wm/store";
import { cycleRegion, noteFocus } from "./focus";
import { FRAME_ACTIONS, frameKey } from "./frameKeys";
import { matchShortcut, type KeyLike } from "./shortcuts";
import { applyShell, closeSwitcher, stepSwitcher, useShell } from "./store";

/**
 * The one place global shortcuts are handled (daedalOS's
 * useGlobalKeyboardShortcuts): Ctrl/⌘+K launcher, Ctrl/⌘+W close,
 * Ctrl/⌘+M minimise, Alt+Tab / Alt+Shift+Tab switch (on Alt release), F10 opens
 * the system menu (focus on its first item; Escape gives it back to the menu button),
 * F6 / Shift+F6 move between the window, the dock, the menu bar and the desktop.
 * Listens in the capture phase so an app's own key handling cannot swallow them.
 * A framed page's keys never reach this page; it may forward the moves between
 * windows and regions by message (frameKeys.ts).
 */
function inTerminal(target: EventTarget | null): boolean {
  return target instanceof Element && target.closest(".xterm") !== null;
}

/** A key press as the handlers need it: the page's own, or one a framed page forwarded (frameKeys.ts). */
type Press = KeyLike & { target: EventTarget | null; preventDefault(): void };

export function useGlobalShortcuts(): void {
  useEffect(() => {
    const onKeyDown = (e: Press, fromFrame = false) => {
      const switcher = useShell.getState().switcher;
      if (switcher && e.key === "Escape") {
        e.preventDefault();
        applyShell(closeSwitcher);
        return;
      }
      const action = matchShortcut(e);
      if (!action || (fromFrame && !FRAME_ACTIONS.has(action))) return;
      // In a terminal, Ctrl+W (delete word) and Ctrl+M (Enter) belong to the shell.
      if ((action === "close" || action === "minimize") && e.ctrlKey && !e.metaKey && inTerminal(e.target)) return;
      // F10 too (mc, htop).
      if (action === "menubar" && inTerminal(e.target)) return;
      // F6 too (mc's move); Ctrl+F6 is the way out of a terminal.
      if ((action === "region-next" || action === "region-prev") && !e.ctrlKey && inTerminal(e.target)) return;
      noteFocus();
      const focused = useWm.getState().focused;
      switch (action) {
        case "launcher":
          e.preventDefault();
          applyShell((s) => ({ ...s, launcherOpen: !s.launcherOpen }));
          return;
        case "close":
          if (!focused || useShell.getState().launcherOpen) return;
          e.preventDefault();
          closeApp(focused);
          return;
        case "minimize":
          if (!focused || useShell.getState().launcherOpen) return;
          e.preventDefault();
          minimizeApp(focused);
          return;
        case "menubar": {
          const menu = document.querySelector<HTMLButtonElement>(".menubar-system");
          if (!menu) return;
          e.preventDefault();
          menu.focus();
          if (menu.getAttribute("aria-expanded") !== "true") menu.click();
          return;
        }
        case "region-next":
        case "region-prev":
          // Not while the launcher (a modal dialog) is open: it keeps the focus.
          if (useShell.getState().launcherOpen) return;
          e.preventDefault();
          cycleRegion(action === "region-prev");
          return;
        case "switch-next":
        case "switch-prev":
          e.preventDefault();
          applyShell(stepSwitcher(mruOrder(useWm.getState()), action === "switch-next" ? 1 : -1));
          return;
      }
    };
    const onKeyUp = (e: Pick<KeyLike, "key">) => {
      if (e.key !== "Alt") return;
      const switcher = useShell.getState().switcher;
      if (!switcher) return;
      applyShell(closeSwitcher);
      const id = switcher.ids[switcher.index];
      if (id) focusApp(id);
    };
    // Keys a framed page forwarded while the keyboard is in it.
    const onMessage = (m: MessageEvent) =>
      void frameKey(m).then((key) => {
        if (!key) return;
        if (key.phase === "keyup") onKeyUp(key);
        else onKeyDown({ ...key, target: document.activeElement, preventDefault: () => {} }, true);
      });
    const onPageKeyDown = (e: KeyboardEvent) => onKeyDown(e);
    const onBlur = () => applyShell(closeSwitcher);
    window.addEventListener("keydown", onPageKeyDown, true);
    window.addEventListener("keyup", onKeyUp, true);
    window.addEventListener("blur", onBlur);
    window.addEventListener("message", onMessage);
    return () => {
      window.removeEventListener("keydown", onPageKeyDown, true);
      window.removeEventListener("keyup", onKeyUp, true);
      window.removeEventListener("blur", onBlur);
      window.removeEventListener("message", onMessage);
    };
  }, []);
}
