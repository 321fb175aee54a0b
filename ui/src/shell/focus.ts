/**
 * Keyboard focus as a native desktop keeps it: each window is a focus scope
 * (Tab and Shift+Tab cycle inside the focused window and never fall out into
 * the dock or the menu bar), and F6 / Shift+F6 (Ctrl+F6 too) move between the
 * desktop's regions: the focused window, the dock, the menu bar and the
 * desktop icons, as F6 does in GNOME and Windows. Each window remembers the
 * control that last had the focus, so coming back to it (F6, Alt+Tab, the dock)
 * lands where the user left off.
 *
 * A framed page (the Blueprint `iframe` component: another origin, sandboxed
 * without allow-same-origin) is a document of its own: the window never sees the
 * keys pressed in it, and its Tab order runs on past the frame's last control into
 * whatever follows in the desktop. So each frame stands between two focus guards
 * (`data-focus-guard`, empty tab stops the window's own cycle skips, as Radix's
 * FocusScope and react-focus-lock do): Tab out of the frame's last control lands on
 * the guard after it, Shift+Tab out of the first on the guard before it, and the
 * guard passes the focus on to the window's next (or previous) stop. Going in, the
 * window focuses the guard on the near side and leaves the Tab to the browser, which
 * carries it to the frame's first (or last) control. Nothing reaches into the frame,
 * so its sandbox is untouched. (Shortcuts from inside a frame: see `frameKeys.ts`.)
 *
 * Plain DOM functions, no React: the window and the global shortcut hook call them.
 */

/** What Tab can reach: the browser's tab order, minus what is disabled, hidden or inert. */
const TABBABLE = [
  "a[href]",
  "button",
  "input",
  "select",
  "textarea",
  "iframe",
  "audio[controls]",
  "video[controls]",
  "[contenteditable='']",
  "[contenteditable='true']",
  "[tabindex]",
].join(",");

function visible(el: HTMLElement): boolean {
  if (el.closest("[hidden], [inert], [aria-hidden='true']")) return false;
  // Chromium knows what is rendered (display: none, visibility: hidden); a DOM without
  // layout (the unit tests) does not, and the attribute checks above must do.
  const check = (el as HTMLElement & { checkVisibility?: (o?: object) => boolean }).checkVisibility;
  return typeof check === "function" ? check.call(el, { visibilityProperty: true }) : true;
}

/** Marks a frame's focus guard; its value is the side it stands on, `before` or `after`. */
export const FOCUS_GUARD = "data-focus-guard";

const isGuard = (el: Element): boolean => el.hasAttribute(FOCUS_GUARD);

/** The elements Tab visits inside `scope`, in document order (positive tabindex is not used here). */
export function tabbables(scope: ParentNode): HTMLElement[] {
  return [...scope.querySelectorAll<HTMLElement>(TABBABLE)].filter((el) => {
    if ((el as HTMLButtonElement).disabled) return false;
    if (isGuard(el)) return false;
    if (el.tabIndex < 0) return false;
    if (el instanceof HTMLInputElement && el.type === "hidden") return false;
    // Of a radio group only the checked one (or the first) is a tab stop, as in the browser.
    if (el instanceof HTMLInputElement && el.type === "radio" && el.name && !el.checked) {
      const group = [...scope.querySelectorAll<HTMLInputElement>(`input[type=radio][name="${CSS.escape(el.name)}"]`)];
      if (group.some((r) => r.checked) || group[0] !== el) return false;
    }
    return visible(el);
  });
}

/**
 * Where Tab (or Shift+Tab) goes from `current` inside a scope whose tab stops are
 * `stops`: the next one, wrapping at either end. From outside the list, the first
 * (or the last, backwards).
 */
export function nextStop<T>(stops: T[], current: T | null, backwards: boolean): T | null {
  if (stops.length === 0) return null;
  const i = current === null ? -1 : stops.indexOf(current);
  if (i < 0) return backwards ? stops[stops.length - 1]! : stops[0]!;
  const n = stops.length;
  return stops[(i + (backwards ? -1 : 1) + n) % n]!;
}

/**
 * The guard on the side a Tab enters `frame` from (before it going forwards, after
 * it going backwards), if the frame has guards.
 */
function entryGuard(frame: HTMLElement, backwards: boolean): HTMLElement | null {
  const el = backwards ? frame.nextElementSibling : frame.previousElementSibling;
  return el instanceof HTMLElement && el.getAttribute(FOCUS_GUARD) === (backwards ? "after" : "before") ? el : null;
}

/**
 * Keeps Tab inside `scope`. Says whether the caller must prevent the key's default:
 * true when the focus was moved here; false when there is nowhere to go, or when the
 * focus was put on a frame's entry guard and the browser's own Tab is to carry it
 * into the frame (a page of another origin, which nothing here can focus inside).
 */
export function cycleFocus(scope: HTMLElement, backwards: boolean): boolean {
  const stops = tabbables(scope);
  const active = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  let next: HTMLElement | null | undefined;
  if (active && !stops.includes(active) && scope.contains(active)) {
    // Focus on something that is not a stop (the window itself, a composite's inner
    // node): the nearest stop after it (or before it, backwards), in document order.
    const after = stops.find((s) => active.compareDocumentPosition(s) & Node.DOCUMENT_POSITION_FOLLOWING);
    const before = stops.filter((s) => active.compareDocumentPosition(s) & Node.DOCUMENT_POSITION_PRECEDING).at(-1);
    next = backwards ? (before ?? stops.at(-1)) : (after ?? stops[0]);
  } else {
    next = nextStop(stops, active, backwards);
  }
  if (!next) return false;
  const guard = next instanceof HTMLIFrameElement ? entryGuard(next, backwards) : null;
  if (guard) {
    guard.focus({ preventScroll: true });
    return false;
  }
  next.focus();
  return true;
}

/**
 * A frame's guard got the focus (`from` is where it came from). A guard the window
 * focused itself, from one of its controls, to let Tab into the frame is left
 * alone. Otherwise the focus came out of the frame (the browser names the frame,
 * or nothing when the framed page runs in this process) or through it (from the
 * other guard, when the frame has nothing to focus), and goes on to the window's
 * next stop after the frame, or the previous one before it.
 */
export function leaveFrame(guard: HTMLElement, from: EventTarget | null): void {
  const side = guard.getAttribute(FOCUS_GUARD);
  const frame = side === "before" ? guard.nextElementSibling : guard.previousElementSibling;
  if (!(frame instanceof HTMLIFrameElement)) return;
  const other = side === "before" ? frame.nextElementSibling : frame.previousElementSibling;
  const scope = guard.closest<HTMLElement>(".app-window") ?? document.body;
  if (from instanceof Node && from !== frame && from !== other && scope.contains(from)) return;
  const next = nextStop(tabbables(scope), frame, side === "before");
  // The only stop is the frame itself: back into it.
  (next ?? frame).focus({ preventScroll: true });
}

/** The control each window last had focused, by window element (weak: closed windows go). */
const lastFocus = new WeakMap<HTMLElement, HTMLElement>();
/** Where that control stood in the window's tab order. */
const lastStop = new WeakMap<HTMLElement, number>();

/** Records where the focus is inside a window (its `focusin`). */
export function rememberFocus(scope: HTMLElement, target: EventTarget | null): void {
  if (target instanceof HTMLElement && target !== scope && !isGuard(target) && scope.contains(target)) {
    lastFocus.set(scope, target);
    lastStop.set(scope, tabbables(scope).indexOf(target));
  }
}

/**
 * The focused control went away under the user: what it did removed it, disabled it
 * or hid it (a form that closes on submit, Start that turns into Pause, a row that
 * is gone). The browser then drops the focus on the page's body, where the next Tab
 * starts over outside the window. Put it back at the same place in the focused
 * window's tab order: the stop now at the lost one's index (or the last). An app
 * that moves the focus somewhere better itself, in its render or layout effect,
 * comes first: this runs only while the focus is still nowhere. Says whether it did.
 */
export function recoverFocus(scope: HTMLElement): boolean {
  if (!scope.classList.contains("focused") || scope.hidden) return false;
  const last = lastFocus.get(scope);
  if (!last) return false;
  const active = document.activeElement;
  const gone = !last.isConnected || !scope.contains(last) || (last as HTMLButtonElement).disabled || !visible(last);
  if (!gone || (active && active !== document.body && active !== last)) return false;
  const stops = tabbables(scope);
  const next = stops[Math.min(lastStop.get(scope) ?? 0, stops.length - 1)];
  if (!next) return false;
  next.focus({ preventScroll: true });
  return document.activeElement === next;
}

/**
 * Records where the focus is now in its window, before a shortcut moves it away: a
 * framed page gets and loses the focus without a focus event in this document, so
 * the window's own `focusin` never saw the frame take it.
 */
export function noteFocus(): void {
  const active = document.activeElement;
  const win = active instanceof HTMLElement ? active.closest<HTMLElement>(".app-window") : null;
  if (win) rememberFocus(win, active);
}

/**
 * Puts the focus into a window: where it was last, else its first control inside
 * the content, else its first tab stop, else the window itself. Says whether a
 * control (not just the window) got it.
 */
export function focusInto(scope: HTMLElement): boolean {
  const last = lastFocus.get(scope);
  if (last && scope.contains(last) && visible(last) && !(last as HTMLButtonElement).disabled) {
    last.focus({ preventScroll: true });
    return true;
  }
  const content = scope.querySelector<HTMLElement>(".window-content");
  const first = (content ? tabbables(content).find((el) => el !== content) : undefined) ?? null;
  if (first) {
    first.focus({ preventScroll: true });
    return true;
  }
  if (document.activeElement !== scope) scope.focus({ preventScroll: true });
  return false;
}

/** The desktop's regions, in F6 order; each finds its element and how to enter it. */
export type Region = "window" | "dock" | "menubar" | "desktop";
export const REGIONS: Region[] = ["window", "dock", "menubar", "desktop"];

function regionElement(region: Region, root: ParentNode): HTMLElement | null {
  switch (region) {
    case "window":
      return root.querySelector<HTMLElement>(".app-window.focused:not([hidden])");
    case "dock":
      return root.querySelector<HTMLElement>("[data-testid=dock]");
    case "menubar":
      return root.querySelector<HTMLElement>("[data-testid=menubar]");
    case "desktop":
      return root.querySelector<HTMLElement>(".desktop-icons");
  }
}

/** The region holding the focus now, if any. */
export function currentRegion(root: ParentNode = document): Region | null {
  const active = document.activeElement;
  if (!active) return null;
  for (const r of REGIONS) {
    const el = r === "window" ? (active.closest(".app-window") as HTMLElement | null) : regionElement(r, root);
    if (el?.contains(active)) return r;
  }
  return null;
}

/**
 * F6: focus the next region that exists (skipping an empty one, e.g. no window
 * open); Shift+F6 the previous. Returns the region entered.
 */
export function cycleRegion(backwards: boolean, root: ParentNode = document): Region | null {
  const here = currentRegion(root);
  const start = here ? REGIONS.indexOf(here) : backwards ? 0 : -1;
  const n = REGIONS.length;
  for (let step = 1; step <= n; step++) {
    const region = REGIONS[(start + (backwards ? -step : step) + n * 2) % n]!;
    if (region === here) continue;
    const el = regionElement(region, root);
    if (!el) continue;
    if (region === "window") {
      focusInto(el);
      return region;
    }
    // The dock roves (one tab stop, the one last used): enter there.
    const entry = tabbables(el)[0];
    if (!entry) continue;
    entry.focus();
    return region;
  }
  return null;
}

/**
 * Arrow keys in a row of buttons (the dock): the index the focus moves to from
 * `i` of `n`, wrapping; Home and End go to the ends; null for any other key.
 */
export function roveIndex(n: number, i: number, key: string): number | null {
  if (n === 0) return null;
  if (key === "ArrowRight" || key === "ArrowDown") return (i + 1) % n;
  if (key === "ArrowLeft" || key === "ArrowUp") return (i - 1 + n) % n;
  if (key === "Home") return 0;
  if (key === "End") return n - 1;
  return null;
}
