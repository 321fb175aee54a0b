import { useLayoutEffect, useMemo, useRef, useState } from "react";
import { useShallow } from "zustand/react/shallow";
import { api, type ProcessAction } from "../../api/client";
import type { AppInstance } from "../../api/schemas";
import { formatBytes, formatPercent } from "../../lib/format";
import { usePoll } from "../../lib/usePoll";
import { notify } from "../../shell/store";
import { useWm } from "../../wm/store";
import type { AppContext } from "../context";
import { closeApp } from "../launch";
import { useProcs } from "../processes";
import { rowLabels, taskRows, type Row } from "./rows";
import "../apps.css";

type SortKey = "name" | "pid" | "state" | "cpu" | "memory" | "peak" | "pids" | "watch";

/** What a row without a kernel process shows in place of the figures. */
export const IN_PAGE = "Runs in the page — no process";

const value = (r: Row, k: SortKey): string | number => {
  switch (k) {
    case "name":
      return r.name.toLowerCase();
    case "pid":
      return r.proc?.pid ?? -1;
    case "state":
      return r.proc?.state ?? (r.inPage ? IN_PAGE : (r.state ?? ""));
    case "cpu":
      return r.proc?.cpu_percent ?? -1;
    case "memory":
      return r.proc?.memory_current ?? -1;
    case "peak":
      return r.proc?.memory_peak ?? -1;
    case "pids":
      return r.proc?.pids ?? -1;
    case "watch":
      return r.proc?.observe_cpu_ns ?? -1;
  }
};

/** Nice values offered for a process: the kernel takes -20 (highest) ..= 19. */
const PRIORITIES: { label: string; nice: number }[] = [
  { label: "High", nice: -10 },
  { label: "Above normal", nice: -5 },
  { label: "Normal", nice: 0 },
  { label: "Below normal", nice: 5 },
  { label: "Low", nice: 10 },
];

/**
 * Every app with its processes as the kernel reports them (cgroup CPU %,
 * memory current/peak, pids, priority, frozen, grants), live every 2 s,
 * sortable: the server's apps and every window of this page (rows.ts). An app
 * that runs in the page says it has no process instead of showing figures. A
 * process can be frozen/thawed (its cgroup's freezer), re-prioritised and
 * killed (POST /api/apps/{id}/process/…); "End task" closes the app's windows
 * and, on the server, the app and its children (DELETE /api/apps/{id}).
 */
export default function TaskManager(_: { ctx: AppContext }) {
  const [apps, refreshApps] = usePoll(() => api.listApps(), 2000);
  const [procs, refreshProcs] = usePoll(() => api.listProcesses(), 2000);
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: "memory", desc: true });

  const appList = apps.phase === "ok" ? apps.data : apps.phase === "error" ? (apps.last ?? []) : [];
  const procList = procs.phase === "ok" ? procs.data : procs.phase === "error" ? (procs.last ?? []) : [];
  const windows = useProcs(useShallow((s) => Object.values(s.procs)));
  const titles = useWm(useShallow((s) => Object.fromEntries(Object.values(s.windows).map((w) => [w.id, w.title]))));
  const rows = useMemo(
    () =>
      taskRows(appList, procList, windows, titles).sort((a, b) => {
        const x = value(a, sort.key);
        const y = value(b, sort.key);
        const c = x < y ? -1 : x > y ? 1 : 0;
        return sort.desc ? -c : c;
      }),
    [appList, procList, windows, titles, sort],
  );

  const labels = useMemo(() => rowLabels(rows), [rows]);

  // Ending a task removes its row, and the button with the focus: the focus goes
  // on to the same place in the table (the next row's End task), not to the page.
  const tbody = useRef<HTMLTableSectionElement>(null);
  const focusedRow = useRef<number | null>(null);
  useLayoutEffect(() => {
    const at = focusedRow.current;
    const body = tbody.current;
    const active = document.activeElement;
    if (at === null || !body || (active && active !== document.body && active.isConnected)) return;
    const ends = body.querySelectorAll<HTMLButtonElement>("button[aria-label^='End task: ']");
    const next = ends[Math.min(at, ends.length - 1)];
    if (next) next.focus();
    else body.closest<HTMLElement>(".table-scroll")?.focus();
  }, [rows]);
  const noteFocus = (e: React.FocusEvent) => {
    const tr = (e.target as Element).closest("tr");
    const at = tr && tbody.current ? [...tbody.current.querySelectorAll("tr")].indexOf(tr) : -1;
    focusedRow.current = at >= 0 ? at : null;
  };
  const forgetFocus = (e: React.FocusEvent) => {
    if (e.relatedTarget && !tbody.current?.contains(e.relatedTarget as Node)) focusedRow.current = null;
  };

  const end = async (row: Row) => {
    try {
      // Closing a window of a server app closes the app on the server too (launch.ts).
      for (const id of row.windowIds) closeApp(id);
      if (!row.windowIds.length && row.app) await api.closeApp(row.app.id);
      notify("info", `Ended ${row.name}`);
      refreshApps();
    } catch (err) {
      notify("error", `Ending ${row.name} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  const act = async (app: AppInstance, action: ProcessAction, done: string) => {
    try {
      await api.processAction(app.id, action);
      notify("info", `${done} ${app.name}`);
    } catch (err) {
      notify("error", `${app.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
    refreshProcs();
  };

  const header = (key: SortKey, label: string, num = false, title?: string) => (
    <th className={num ? "num" : undefined} aria-sort={sort.key === key ? (sort.desc ? "descending" : "ascending") : "none"} scope="col" title={title}>
      <button type="button" onClick={() => setSort((s) => ({ key, desc: s.key === key ? !s.desc : num }))}>
        {label}
        {/* The order is the header's aria-sort; the arrow is for the eye, not read out as "down arrow". */}
        {sort.key === key && <span aria-hidden="true">{sort.desc ? " ↓" : " ↑"}</span>}
      </button>
    </th>
  );

  return (
    <div className="app-pane">
      {apps.phase === "error" && (
        <div className="error-box" role="alert">
          <strong>Apps unavailable</strong>
          <pre>{apps.error}</pre>
        </div>
      )}
      {apps.phase === "unavailable" && <p className="unavailable">The app list is not available yet: {apps.error}</p>}
      {procs.phase === "unavailable" && (
        <p className="unavailable" role="note">
          Kernel process data is not available yet (GET /api/processes answered 404). Apps are listed without CPU and memory.
        </p>
      )}
      {procs.phase === "error" && (
        <div className="error-box" role="alert">
          <strong>Process data unavailable</strong>
          <pre>{procs.error}</pre>
        </div>
      )}
      {/* Wider than a small window: it scrolls sideways rather than cutting off the actions. */}
      <div className="table-scroll" tabIndex={-1}>
      <table className="data-table" aria-label="Running apps and processes">
        <thead>
          <tr>
            {header("name", "App")}
            {header("pid", "PID", true)}
            {header("state", "State")}
            {header("cpu", "CPU", true)}
            {header("memory", "Memory", true)}
            {header("peak", "Peak", true)}
            {header("pids", "Tasks", true)}
            {header("watch", "Watch", true, "CPU time AgentOS's eBPF probes spent observing it")}
            <th scope="col">Priority</th>
            <th scope="col">Grants</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody ref={tbody} onFocus={noteFocus} onBlur={forgetFocus}>
          {rows.map((row) => {
            const { app, proc } = row;
            const who = labels.get(row.key) ?? row.name;
            return (
              <tr key={row.key}>
                <td>
                  {row.name} <span className="muted small">{row.kind}</span>
                </td>
                {row.inPage ? (
                  // No kernel process to measure: said, not shown as empty figures.
                  <td colSpan={9} className="muted in-page">
                    {IN_PAGE}
                  </td>
                ) : (
                  <>
                    <td className="num">{proc?.pid ?? "—"}</td>
                    <td>{proc?.frozen ? "frozen" : (proc?.state ?? row.state ?? "—")}</td>
                    <td className="num">{formatPercent(proc?.cpu_percent)}</td>
                    <td className="num">{formatBytes(proc?.memory_current)}</td>
                    <td className="num">{formatBytes(proc?.memory_peak)}</td>
                    <td className="num">{proc?.pids ?? "—"}</td>
                    <td className="num">{proc?.observe_cpu_ns === undefined ? "—" : `${(proc.observe_cpu_ns / 1e6).toFixed(2)} ms`}</td>
                    <td>
                      {proc && app ? (
                        <select
                          aria-label={`Priority: ${who}`}
                          value={PRIORITIES.some((p) => p.nice === proc.priority) ? proc.priority : 0}
                          onChange={(e) => void act(app, { kind: "priority", priority: Number(e.target.value) }, "Priority set for")}
                        >
                          {PRIORITIES.map((p) => (
                            <option key={p.nice} value={p.nice}>
                              {p.label} ({p.nice})
                            </option>
                          ))}
                        </select>
                      ) : (
                        "—"
                      )}
                    </td>
                    <td className="small mono grants-cell">{proc?.grants?.length ? proc.grants.join(", ") : proc ? "none" : "—"}</td>
                  </>
                )}
                <td className="actions">
                  {proc && app && proc.state !== "exited" && (
                    <>
                      <button
                        type="button"
                        className="btn"
                        aria-pressed={proc.frozen ?? false}
                        aria-label={`${proc.frozen ? "Thaw" : "Freeze"}: ${who}`}
                        onClick={() => void act(app, { kind: "freeze", frozen: !proc.frozen }, proc.frozen ? "Thawed" : "Froze")}
                      >
                        {proc.frozen ? "Thaw" : "Freeze"}
                      </button>
                      <button type="button" className="btn btn-danger" aria-label={`Kill process: ${who}`} onClick={() => void act(app, { kind: "kill" }, "Killed the process of")}>
                        Kill
                      </button>
                    </>
                  )}
                  <button type="button" className="btn btn-danger" aria-label={`End task: ${who}`} onClick={() => void end(row)}>
                    End task
                  </button>
                </td>
              </tr>
            );
          })}
          {apps.phase === "ok" && rows.length === 0 && (
            <tr>
              <td colSpan={11} className="muted">
                No apps running.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      </div>
    </div>
  );
}
