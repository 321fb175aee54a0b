import { useEffect, useMemo, useState } from "react";
import { api } from "../../api/client";
import { stream, useStreamStatus } from "../../api/stream";
import type { ProcessInfo, ServerMessage } from "../../api/schemas";
import { Chart } from "./Chart";
import { HealthReport } from "../../components/SystemStatus";
import { useHealthStore } from "../../health/store";
import { formatBytes } from "../../lib/format";
import { usePoll } from "../../lib/usePoll";
import type { AppContext } from "../context";
import "../apps.css";

interface Sample {
  name: string;
  labels: string;
  value: number;
}

/** Prometheus text exposition → samples (comments and malformed lines skipped). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (Number.isFinite(value)) out.push({ name: m[1]!, labels: m[2] ?? "", value });
  }
  return out;
}

/** One line of the monitor's figures: what it is, and its value for people. */
export interface Figure {
  label: string;
  value: string;
}

/**
 * The scrape as a person reads it: totals and mean latencies summed over the
 * histograms' labels, instead of one raw line per bucket. A figure whose series
 * is absent (an older server, a kernel that did not answer) is left out.
 */
export function summarize(samples: Sample[]): Figure[] {
  const sum = (name: string) => {
    const xs = samples.filter((s) => s.name === name);
    return xs.length ? xs.reduce((a, s) => a + s.value, 0) : null;
  };
  const count = (n: number) => Math.round(n).toLocaleString("en-US");
  const latency = (histogram: string) => {
    const n = sum(`${histogram}_count`);
    const total = sum(`${histogram}_sum`);
    if (n === null || total === null) return null;
    return n === 0 ? "0" : `${count(n)}, mean ${((total / n) * 1000).toFixed(2)} ms`;
  };
  const total = (name: string) => ((v) => (v === null ? null : count(v)))(sum(name));
  const up = sum("agentos_kernel_up");
  const overhead = sum("agentos_collector_overhead_ratio");
  const rows: [string, string | null][] = [
    ["Kernel", up === null ? null : up > 0 ? "answering" : "not answering"],
    ["Apps running", total("agentos_active_apps")],
    ["WebSocket connections", total("agentos_ws_connections")],
    ["HTTP requests", latency("agentos_http_request_duration_seconds")],
    ["Calls to the kernel", latency("agentos_kernel_call_duration_seconds")],
    ["Syscalls", latency("agentos_syscall_latency_seconds")],
    ["Filesystem operations", latency("agentos_vfs_latency_seconds")],
    ["Processes started", total("agentos_process_spawned_total")],
    ["Processes exited", total("agentos_process_exited_total")],
    ["Events lost", total("agentos_events_lost_total")],
    ["Anomalies flagged", total("agentos_anomalies_total")],
    ["Collector's own CPU", overhead === null ? null : `${(overhead * 100).toFixed(2)} %`],
  ];
  return rows.filter((r): r is [string, string] => r[1] !== null).map(([label, value]) => ({ label, value }));
}

const HISTORY = 60;

interface History {
  times: number[];
  /** app id → name, cpu % and memory bytes, aligned with `times`. */
  apps: Record<string, { name: string; cpu: (number | null)[]; mem: (number | null)[] }>;
}

/** Appends one /api/processes sample to the per-app history, keeping the last HISTORY points. */
export function addSample(h: History, at: number, procs: ProcessInfo[]): History {
  const times = [...h.times, at].slice(-HISTORY);
  const n = times.length;
  const apps: History["apps"] = {};
  const ids = new Set([...Object.keys(h.apps), ...procs.map((p) => p.app_id ?? `pid ${p.pid}`)]);
  for (const id of ids) {
    const mine = procs.filter((p) => (p.app_id ?? `pid ${p.pid}`) === id);
    const prev = h.apps[id] ?? { name: mine[0]?.name || id, cpu: [], mem: [] };
    const cpu = mine.length ? mine.reduce((a, p) => a + (p.cpu_percent ?? 0), 0) : null;
    const mem = mine.length ? mine.reduce((a, p) => a + (p.memory_current ?? 0), 0) : null;
    const pad = (xs: (number | null)[]) => [...Array(Math.max(0, n - 1 - xs.length)).fill(null), ...xs].slice(-(n - 1));
    const next = { name: prev.name, cpu: [...pad(prev.cpu), cpu], mem: [...pad(prev.mem), mem] };
    if (next.cpu.some((v) => v !== null)) apps[id] = next;
  }
  return { times, apps };
}

/**
 * The kernel as the API shows it: the doctor report (/health), the services'
 * Prometheus metrics (/metrics), memory of managed processes over time
 * (/api/processes), and live events from /api/stream.
 */
export default function SystemMonitor(_: { ctx: AppContext }) {
  const health = useHealthStore((s) => s.state);
  const [metrics] = usePoll(async () => parseMetrics(await api.text("/metrics")), 3000);
  const [procs] = usePoll(() => api.listProcesses(), 2000);
  const [history, setHistory] = useState<History>({ times: [], apps: {} });
  const [events, setEvents] = useState<{ at: string; text: string }[]>([]);
  const streamStatus = useStreamStatus((s) => s.status);

  useEffect(() => {
    if (procs.phase === "ok") setHistory((h) => addSample(h, procs.at / 1000, procs.data));
  }, [procs]);
  const appIds = Object.keys(history.apps);
  const cpuLines = useMemo(() => appIds.map((id) => ({ label: history.apps[id]!.name, values: history.apps[id]!.cpu })), [history]); // eslint-disable-line react-hooks/exhaustive-deps
  const memLines = useMemo(() => appIds.map((id) => ({ label: history.apps[id]!.name, values: history.apps[id]!.mem })), [history]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    const describe = (m: ServerMessage): string | null => {
      switch (m.type) {
        case "app_event":
          return `${m.app_id ?? "-"} ${m.event}`;
        case "process_exit":
          return `${m.app_id} exited with code ${m.code ?? "?"}`;
        case "denial":
          return `${m.app_id} denied: ${m.access}: ${m.reason}`;
        case "error":
          return `error: ${m.message}`;
        default:
          return null;
      }
    };
    return stream().subscribe((m) => {
      const text = describe(m);
      if (text) setEvents((e) => [{ at: new Date().toLocaleTimeString(), text }, ...e].slice(0, 100));
    });
  }, []);

  return (
    <div className="app-pane monitor-grid">
      <section aria-labelledby="mon-doctor">
        <h3 id="mon-doctor">Kernel</h3>
        {health.phase === "ok" ? <HealthReport health={health.health} /> : <p className="muted">{health.phase === "loading" ? "Loading /health…" : `Unavailable: ${health.error}`}</p>}
      </section>
      <section aria-labelledby="mon-metrics">
        <h3 id="mon-metrics">System</h3>
        {metrics.phase === "unavailable" && <p className="unavailable">Metrics are not available yet (GET /metrics answered 404).</p>}
        {metrics.phase === "error" && (
          <div className="error-box" role="alert">
            <pre>{metrics.error}</pre>
          </div>
        )}
        {metrics.phase === "ok" && (
          <table className="data-table" aria-label="Metrics">
            <tbody>
              {summarize(metrics.data).map((f) => (
                <tr key={f.label}>
                  <th scope="row">{f.label}</th>
                  <td className="num">{f.value}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section aria-labelledby="mon-procs" style={{ gridColumn: "1 / -1" }}>
        <h3 id="mon-procs">CPU and memory per app</h3>
        {procs.phase === "unavailable" ? (
          <p className="unavailable">Process data is not available yet (GET /api/processes answered 404).</p>
        ) : appIds.length === 0 ? (
          <p className="muted small">No managed processes yet: start a terminal.</p>
        ) : (
          <div className="monitor-grid">
            <Chart title="CPU (cgroup)" times={history.times} lines={cpuLines} format={(n) => `${n.toFixed(1)} %`} />
            <Chart title="Memory (cgroup, current)" times={history.times} lines={memLines} format={formatBytes} />
          </div>
        )}
      </section>
      <section aria-labelledby="mon-events" style={{ gridColumn: "1 / -1" }}>
        <h3 id="mon-events">Live events · stream {streamStatus}</h3>
        {events.length === 0 ? (
          <p className="muted small">No events yet (app events, process exits and denials appear here).</p>
        ) : (
          <ul className="events" aria-label="Events" aria-live="polite">
            {events.map((e, i) => (
              <li key={i}>
                <span className="muted">{e.at}</span> {e.text}
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}
