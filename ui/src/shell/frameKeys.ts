/**
 * Desktop shortcuts from inside a framed page. A page in a Blueprint `iframe` is
 * another origin, sandboxed without allow-same-origin, and keeps its keys: F6,
 * F10 and Alt+Tab pressed there never reach the desktop, and the desktop cannot
 * listen inside the frame without giving up the sandbox (allow-same-origin plus
 * allow-scripts would let a same-origin page lift its own sandbox). So a page
 * that wants them forwards them itself, as a message to its parent:
 *
 * ```js
 * const send = (phase, e) => parent.postMessage({ type: "agentos:key", phase, key: e.key,
 *   altKey: e.altKey, ctrlKey: e.ctrlKey, metaKey: e.metaKey, shiftKey: e.shiftKey }, "*");
 * addEventListener("keydown", (e) => {
 *   if (e.key === "F6" || e.key === "F10" || (e.altKey && e.key === "Tab")) { e.preventDefault(); send("keydown", e); }
 * });
 * addEventListener("keyup", (e) => { if (e.key === "Alt") send("keyup", e); });
 * // Coming back (F6, Alt+Tab) the desktop can only focus the frame: put the control back.
 * let last = null;
 * addEventListener("focusin", (e) => { last = e.target; });
 * addEventListener("focus", () => { if (last && document.activeElement === document.body) last.focus(); });
 * ```
 *
 * What a page may ask for is what its user could do with those keys, and only while
 * the keyboard is in that page: the message must come from the frame that holds the
 * focus now, in a window, and name one of the moves between windows and regions
 * ([`FRAME_ACTIONS`]); nothing else a shortcut does (close, minimise, the launcher)
 * and no data pass this way. Tab needs no message (see `focus.ts`).
 */
import type { FrameKey } from "./frameKeySchema";
import type { ShortcutAction } from "./shortcuts";

export type { FrameKey };

/** The shortcuts a framed page may forward: moving between windows and regions. */
export const FRAME_ACTIONS: ReadonlySet<ShortcutAction> = new Set<ShortcutAction>(["region-next", "region-prev", "switch-next", "switch-prev", "menubar"]);

/** Whether the message comes from the frame, inside a window, that has the focus. */
function fromFocusedFrame(e: Pick<MessageEvent, "source">, doc: Document): boolean {
  const active = doc.activeElement;
  if (!(active instanceof HTMLIFrameElement) || !active.closest(".app-window") || !doc.hasFocus()) return false;
  return e.source !== null && e.source === active.contentWindow;
}

/**
 * The key a framed page forwarded, if it may forward one now: the message is
 * well-formed and comes from the frame, inside a window, that has the focus.
 * The message's zod schema loads on the first one (not on the first screen's path).
 */
export async function frameKey(e: Pick<MessageEvent, "source" | "data">, doc: Document = document): Promise<FrameKey | null> {
  if (!fromFocusedFrame(e, doc)) return null;
  const { FrameKeySchema } = await import("./frameKeySchema");
  // The focus may have moved on while the schema loaded.
  if (!fromFocusedFrame(e, doc)) return null;
  const parsed = FrameKeySchema.safeParse(e.data);
  return parsed.success ? parsed.data : null;
}
