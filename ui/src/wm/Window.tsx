import { useEffect, useRef, type PointerEvent as ReactPointerEvent, type ReactNode } from "react";
import { closeApp, focusApp, minimizeApp } from "../apps/launch";
import { applyShell } from "../shell/store";
import { AppIcon } from "../shell/icons";
import { DenialBanner } from "../denials/DenialBanner";
import { ErrorBoundary } from "./ErrorBoundary";
import { setWindowRect, toggleMaximize, snapWindow, unsnapForDrag } from "./functions";
import { EDGES, moveRect, resizeRect, snapZoneAt, type Edge, type Rect, type SnapZone } from "./geometry";
import { cycleFocus, focusInto, recoverFocus, rememberFocus } from "../shell/focus";
import { useWm, viewport } from "./store";
import "./Window.css";

/**
 * A window: a `section` with role `dialog` named by its title, a `header`
 * title bar to drag (double-click maximises), three buttons, and eight
 * resize handles. Drag and resize use pointer capture, so they keep working
 * when the pointer leaves the window. It is a focus scope (shell/focus.ts): Tab
 * cycles inside it, and it remembers which control had the focus.
 */
export function Window({ id, children }: { id: string; children: ReactNode }) {
  const win = useWm((s) => s.windows[id]);
  const z = useWm((s) => s.order.indexOf(id));
  const focused = useWm((s) => s.focused === id);
  const ref = useRef<HTMLElement>(null);
  const drag = useRef<{ kind: "move" | Edge; start: Rect; px: number; py: number; zone: SnapZone | null } | null>(null);

  // Keyboard focus follows window focus: a window that becomes focused (a click, Alt+Tab,
  // the dock, a restore) takes the focus unless it already holds it, at the control it
  // last had focused. An app loads lazily, so its first control may appear a moment
  // later: keep looking for up to a second while the window itself holds the focus.
  useEffect(() => {
    const el = ref.current;
    if (!focused || !el || win?.mode === "minimized" || (el.contains(document.activeElement) && document.activeElement !== el)) return;
    let frame = 0;
    let tries = 0;
    const attempt = () => {
      if (focusInto(el)) return;
      if (++tries < 60) frame = requestAnimationFrame(() => {
        const active = document.activeElement;
        if (active === el || active === document.body) attempt();
      });
    };
    attempt();
    return () => cancelAnimationFrame(frame);
  }, [focused, win?.mode]);

  // A control that removes, disables or hides itself drops the focus on the page's
  // body: put it back in this window, where it was in the tab order (focus.ts). A
  // frame later, so what the click set off settles first (a Blueprint's Start disables
  // itself, then enables Pause, one tool at a time: the focus goes to Pause).
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    let frame = 0;
    const observer = new MutationObserver(() => {
      const active = document.activeElement;
      if (frame || !(active === document.body || (active as HTMLButtonElement | null)?.disabled)) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        recoverFocus(el);
      });
    });
    observer.observe(el, { subtree: true, childList: true, attributes: true, attributeFilter: ["disabled", "hidden", "inert"] });
    return () => {
      observer.disconnect();
      cancelAnimationFrame(frame);
    };
  }, [win === undefined]);

  if (!win) return null;
  const maximized = win.mode === "maximized";
  const apply = useWm.getState().apply;

  const begin = (kind: "move" | Edge) => (e: ReactPointerEvent<HTMLElement>) => {
    if (e.button !== 0) return;
    if (kind === "move" && (e.target as HTMLElement).closest("button")) return;
    e.preventDefault();
    focusApp(id);
    if (kind === "move") apply(unsnapForDrag(id, { x: e.clientX, y: e.clientY }));
    const start = useWm.getState().windows[id]!.rect;
    drag.current = { kind, start, px: e.clientX, py: e.clientY, zone: null };
    e.currentTarget.setPointerCapture(e.pointerId);
  };

  const move = (e: ReactPointerEvent<HTMLElement>) => {
    const d = drag.current;
    if (!d) return;
    const dx = e.clientX - d.px;
    const dy = e.clientY - d.py;
    const vp = viewport();
    if (d.kind === "move") {
      apply(setWindowRect(id, moveRect(d.start, dx, dy, vp)));
      const zone = snapZoneAt({ x: e.clientX, y: e.clientY }, vp);
      if (zone !== d.zone) {
        d.zone = zone;
        applyShell((s) => ({ ...s, snapPreview: zone }));
      }
    } else {
      apply(setWindowRect(id, resizeRect(d.start, d.kind, dx, dy, win.minSize)));
    }
  };

  const end = (e: ReactPointerEvent<HTMLElement>) => {
    const d = drag.current;
    if (!d) return;
    drag.current = null;
    if (e.currentTarget.hasPointerCapture(e.pointerId)) e.currentTarget.releasePointerCapture(e.pointerId);
    if (d.zone) apply(snapWindow(id, d.zone, viewport()));
    applyShell((s) => (s.snapPreview ? { ...s, snapPreview: null } : s));
  };

  const { x, y, width, height } = win.rect;
  const titleId = `win-title-${id}`;
  return (
    <section
      ref={ref}
      className={`app-window${focused ? " focused" : ""}${maximized ? " maximized" : ""}`}
      role="dialog"
      aria-labelledby={titleId}
      aria-modal="false"
      tabIndex={-1}
      hidden={win.mode === "minimized"}
      data-window-id={id}
      data-app-id={win.appId}
      data-mode={win.mode}
      data-snapped={win.snapped ?? undefined}
      style={{ left: x, top: y, width, height, zIndex: 100 + z }}
      onPointerDownCapture={() => {
        if (!focused) focusApp(id);
      }}
      // No focusApp here: an app that grabs the focus late (a terminal attaching) must not
      // raise its window over the one the user went to; Tab cannot leave a window anyway.
      onFocus={(e) => rememberFocus(e.currentTarget, e.target)}
      onKeyDown={(e) => {
        // A focus scope: Tab and Shift+Tab cycle inside the window, never out of it
        // (a terminal keeps Tab for the shell: xterm has already taken it).
        if (e.key !== "Tab" || e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
        if (cycleFocus(e.currentTarget, e.shiftKey)) e.preventDefault();
      }}
    >
      {/* role none: a window's title bar is not a page banner landmark (the menu bar is). */}
      <header
        role="none"
        className="app-titlebar"
        onPointerDown={begin("move")}
        onPointerMove={move}
        onPointerUp={end}
        onPointerCancel={end}
        onDoubleClick={(e) => {
          if (!(e.target as HTMLElement).closest("button")) apply(toggleMaximize(id, viewport()));
        }}
      >
        <div className="window-controls">
          <button type="button" className="wc wc-close" aria-label="Close" title="Close (Ctrl+W)" onClick={() => closeApp(id)} />
          <button type="button" className="wc wc-min" aria-label="Minimize" title="Minimize (Ctrl+M)" onClick={() => minimizeApp(id)} />
          <button
            type="button"
            className="wc wc-max"
            aria-label={maximized ? "Restore" : "Maximize"}
            title={maximized ? "Restore" : "Maximize"}
            onClick={() => apply(toggleMaximize(id, viewport()))}
          />
        </div>
        <h2 id={titleId} className="app-window-title">
          <AppIcon icon={win.icon} name={win.title} size={16} />
          <span>{win.title}</span>
        </h2>
      </header>
      <DenialBanner windowId={id} />
      <div className="window-content" tabIndex={0} role="group" aria-labelledby={titleId}>
        <ErrorBoundary name={win.title}>{children}</ErrorBoundary>
      </div>
      {!maximized &&
        EDGES.map((edge) => (
          <div
            key={edge}
            className={`resize resize-${edge}`}
            aria-hidden="true"
            data-edge={edge}
            onPointerDown={begin(edge)}
            onPointerMove={move}
            onPointerUp={end}
            onPointerCancel={end}
          />
        ))}
    </section>
  );
}
