import { Terminal as XTerm } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { useEffect, useRef, useState } from "react";
import { api } from "../../api/client";
import { stream } from "../../api/stream";
import type { AppContext } from "../context";
import { useWm } from "../../wm/store";
import { patchProc, useProcs } from "../processes";
import "./Terminal.css";

type Phase = { kind: "starting" } | { kind: "running"; appId: string } | { kind: "exited"; code: number | null; signal?: string | null | undefined } | { kind: "failed"; error: string };

/** The registry id of the sandboxed shell (apps/native-proc/shell). */
export const SHELL_APP = "shell";

/**
 * A terminal on a native process: xterm.js fed by `process_output` on
 * /api/stream, keys sent back as `stdin`, the window's size as `resize`
 * (cols × rows), and the exit code shown when `process_exit` arrives.
 * Opened on its own it launches the shell; opened for a launched native
 * process it attaches to that instance.
 */
export default function Terminal({ ctx }: { ctx: AppContext }) {
  const host = useRef<HTMLDivElement>(null);
  const [phase, setPhase] = useState<Phase>({ kind: "starting" });
  const [size, setSize] = useState("");
  const restored = useProcs((st) => st.procs[ctx.windowId]?.restored === true);

  useEffect(() => {
    let disposed = false;
    const el = host.current!;
    const term = new XTerm({
      fontFamily: '"DejaVu Sans Mono", ui-monospace, monospace',
      fontSize: 13,
      cursorBlink: true,
      convertEol: false,
      scrollback: 5000,
      theme: { background: "#0d0f17", foreground: "#e5e7eb", cursor: "#8ab4ff", selectionBackground: "#3b4a6b" },
    });
    term.open(el);
    let appId: string | null = ctx.serverId;
    const s = stream();

    // Copy and paste: Ctrl+Shift+C / Ctrl+Shift+V (Ctrl+C stays the process's interrupt).
    term.attachCustomKeyEventHandler((e) => {
      if (e.type !== "keydown" || !e.ctrlKey || !e.shiftKey) return true;
      if (e.code === "KeyC") {
        const sel = term.getSelection();
        if (sel) void navigator.clipboard?.writeText(sel).catch(() => {});
        return false;
      }
      if (e.code === "KeyV") {
        void navigator.clipboard?.readText().then((t) => term.paste(t), () => {});
        return false;
      }
      return true;
    });

    // Fit the grid to the window: cell size from xterm's own measurement.
    const fit = () => {
      const core = (term as unknown as { _core?: { _renderService?: { dimensions?: { css?: { cell?: { width: number; height: number } } } } } })._core;
      const cell = core?._renderService?.dimensions?.css?.cell;
      // A minimised (hidden) window measures 0×0: keep the process's size.
      if (!cell?.width || !cell.height || el.clientWidth === 0 || el.clientHeight === 0) return;
      const cols = Math.max(20, Math.floor((el.clientWidth - 8) / cell.width));
      const rows = Math.max(5, Math.floor((el.clientHeight - 4) / cell.height));
      if (cols !== term.cols || rows !== term.rows) term.resize(cols, rows);
      setSize(`${term.cols}×${term.rows}`);
    };
    const ro = new ResizeObserver(() => fit());
    ro.observe(el);
    term.onResize(({ cols, rows }) => {
      if (appId) s.send({ type: "resize", app_id: appId, cols, rows });
    });
    term.onData((data) => {
      if (appId) s.send({ type: "stdin", app_id: appId, data });
    });

    const unsubscribe = s.subscribe((msg) => {
      if (!appId) return;
      if (msg.type === "process_output" && msg.app_id === appId) term.write(msg.data);
      else if (msg.type === "process_exit" && msg.app_id === appId) {
        const why = msg.oom_killed ? ", killed: out of memory" : msg.signal ? `, signal ${msg.signal}` : "";
        term.write(`\r\n\x1b[2m[process exited with code ${msg.code ?? "?"}${why}]\x1b[0m\r\n`);
        setPhase({ kind: "exited", code: msg.code, signal: msg.oom_killed ? "out of memory" : msg.signal });
      } else if (msg.type === "error" && (!msg.app_id || msg.app_id === appId)) {
        term.write(`\r\n\x1b[31m${msg.message}\x1b[0m\r\n`);
      }
    });

    const attach = (id: string) => {
      appId = id;
      setPhase({ kind: "running", appId: id });
      s.send({ type: "subscribe", app_id: id });
      fit();
      s.send({ type: "resize", app_id: id, cols: term.cols, rows: term.rows });
      // Only if this window is still the focused one: the shell starts a moment after the
      // window opens, and the user may have gone on to another window meanwhile.
      if (useWm.getState().focused === ctx.windowId) term.focus();
    };

    if (appId) attach(appId);
    else {
      api.launch(SHELL_APP).then(
        (inst) => {
          if (disposed) {
            void api.closeApp(inst.id).catch(() => {});
            return;
          }
          patchProc(ctx.windowId, { serverId: inst.id });
          attach(inst.id);
        },
        (err: unknown) => setPhase({ kind: "failed", error: err instanceof Error ? err.message : String(err) }),
      );
    }

    return () => {
      disposed = true;
      ro.disconnect();
      unsubscribe();
      term.dispose();
    };
    // The terminal is created once per window.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  return (
    <div className="terminal-app">
      {phase.kind === "failed" && (
        <div className="error-box" role="alert">
          <strong>The shell could not start</strong>
          <pre>{phase.error}</pre>
        </div>
      )}
      {restored && (
        <p className="terminal-note" role="note">
          Restored from a saved session. A process cannot be resumed once it has ended, so this is a new shell, started with the saved
          grants and limits; the old one's output and state are gone.
        </p>
      )}
      <div ref={host} className="terminal-host" aria-label="Terminal output" />
      <div className="terminal-status" role="status">
        {phase.kind === "starting" && "Starting the shell…"}
        {phase.kind === "running" && `Running · ${phase.appId}${size ? ` · ${size}` : ""} · Ctrl+Shift+C/V copy/paste`}
        {phase.kind === "exited" && `Process exited with code ${phase.code ?? "?"}${phase.signal ? ` (signal ${phase.signal})` : ""}`}
        {phase.kind === "failed" && "Not running"}
      </div>
    </div>
  );
}
