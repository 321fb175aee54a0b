import { useEffect, useState } from "react";
import { api } from "../../api/client";
import { stream, useStreamStatus } from "../../api/stream";
import type { ServerMessage } from "../../api/schemas";
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

const HISTORY = 60;

/** A small SVG line chart of the last samples (no chart library yet). */
function Spark({ values, label, format }: { values: number[]; label: string; format: (n: number) => string }) {
  const w = 300;
  const h = 60;
  const max = Math.max(1, ...values);
  const pts = values.map((v, i) => `${(i / Math.max(1, HISTORY - 1)) * w},${h - 2 - (v / max) * (h - 4)}`).join(" ");
  return (
    <figure style={{ margin: 0 }}>
      <svg viewBox={`0 0 ${w} ${h}`} width="100%" height={h} role="img" aria-label={`${label}: ${values.length ? format(values.at(-1)!) : "no data"}`}>
        <polyline points={pts} fill="none" stroke="var(--accent)" strokeWidth="2" />
      </svg>
      <figcaption className="small muted">
        {label}: {values.length ? format(values.at(-1)!) : "no data yet"}
      </figcaption>
    </figure>
  );
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
  const [memory, setMemory] = useState<number[]>([]);
  const [events, setEvents] = useState<{ at: string; text: string }[]>([]);
  const streamStatus = useStreamStatus((s) => s.status);

  useEffect(() => {
    if (procs.phase !== "ok") return;
    const total = procs.data.reduce((a, p) => a + (p.memory_current ?? 0), 0);
    setMemory((m) => [...m.slice(-(HISTORY - 1)), total]);
  }, [procs]);

  useEffect(() => {
    const describe = (m: ServerMessage): string | null => {
      switch (m.type) {
        case "app_event":
          return `${m.app_id ?? "-"} ${m.event}`;
        case "process_exit":
          return `${m.app_id} exited with code ${m.code ?? "?"}`;
        case "denial":
          return `${m.app_id} denied ${m.operation ?? ""} ${m.resource ?? ""}: ${m.reason}`;
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
        <h3 id="mon-metrics">Services</h3>
        {metrics.phase === "unavailable" && <p className="unavailable">Metrics are not available yet (GET /metrics answered 404).</p>}
        {metrics.phase === "error" && (
          <div className="error-box" role="alert">
            <pre>{metrics.error}</pre>
          </div>
        )}
        {metrics.phase === "ok" && (
          <table className="data-table" aria-label="Metrics">
            <tbody>
              {metrics.data.slice(0, 30).map((s, i) => (
                <tr key={i}>
                  <td className="mono small">
                    {s.name}
                    <span className="muted">{s.labels}</span>
                  </td>
                  <td className="num">{s.value}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <h3 style={{ marginTop: 14 }}>Managed processes</h3>
        {procs.phase === "unavailable" ? (
          <p className="unavailable">Process data is not available yet (GET /api/processes answered 404).</p>
        ) : (
          <Spark values={memory} label="Memory of managed processes" format={formatBytes} />
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
