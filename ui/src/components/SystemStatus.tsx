import { type ReactNode, useId, useState } from "react";
import type { Health } from "../health/schema";
import { useHealthStore } from "../health/store";
import { formatTimeOfDay, formatUptime } from "../lib/time";
import "./SystemStatus.css";

/** Window-like card showing GET /health: overall status, kernel, doctor report. */
export function SystemStatus() {
  const state = useHealthStore((s) => s.state);

  let body: ReactNode;
  let footer: string;
  switch (state.phase) {
    case "loading":
      body = <p className="status-loading">Checking system status…</p>;
      footer = "Waiting for /health";
      break;
    case "ok":
      body = <HealthReport health={state.health} />;
      footer = `Updated ${formatTimeOfDay(new Date(state.updatedAt))}`;
      break;
    case "error":
      body = (
        <>
          <div className="status-error" role="alert" data-testid="system-status-error">
            <strong>System status unavailable</strong>
            <pre>{state.error}</pre>
          </div>
          {state.last && (
            <div className="status-stale" data-testid="system-status-stale">
              <p className="status-stale-label">Last known state</p>
              <HealthReport health={state.last} />
            </div>
          )}
        </>
      );
      footer = `Failed at ${formatTimeOfDay(new Date(state.failedAt))} · retrying`;
      break;
  }

  return (
    <section
      className="window system-status"
      data-testid="system-status"
      data-phase={state.phase}
      aria-labelledby="system-status-title"
    >
      <header className="window-titlebar">
        <h2 id="system-status-title" className="window-title">
          System status
        </h2>
      </header>
      <div className="window-body">{body}</div>
      <footer className="window-footer">{footer}</footer>
    </section>
  );
}

export function HealthReport({ health }: { health: Health }) {
  const subsystems = Object.entries(health.doctor);
  const { kernel } = health;
  return (
    <>
      <dl className="status-summary">
        <dt>Status</dt>
        <dd data-testid="health-status">
          <span className={`badge badge-${health.status}`}>{health.status}</span>
        </dd>
        <dt>Version</dt>
        <dd data-testid="health-version">{health.version}</dd>
        <dt>Kernel</dt>
        <dd data-testid="health-kernel" data-connected={kernel.connected}>
          <span className={`dot ${kernel.connected ? "dot-on" : "dot-off"}`} aria-hidden="true" />
          {kernel.connected ? "connected" : "not connected"}
          {kernel.connected && <span className="muted"> · up {formatUptime(kernel.uptime_ms)}</span>}
          <div className="muted mono socket" title="Kernel socket">
            {kernel.socket}
          </div>
        </dd>
      </dl>

      <h3 className="status-section">Subsystems</h3>
      {subsystems.length === 0 ? (
        <p className="muted" data-testid="doctor-empty">
          No subsystem report{kernel.connected ? "" : " (kernel not connected)"}.
        </p>
      ) : (
        <ul className="doctor" aria-label="Subsystems">
          {subsystems.map(([name, report]) => (
            <DoctorRow key={name} name={name} report={report} />
          ))}
        </ul>
      )}
    </>
  );
}

type SubsystemReport = Health["doctor"][string];

/**
 * One subsystem: its name, backend and verdict on one line, the reason below it cut to
 * one line until the row is opened (a reason can run to a paragraph: the panel stays a
 * list you can scan). The whole reason is always in the page for screen readers.
 */
function DoctorRow({ name, report }: { name: string; report: SubsystemReport }) {
  const [open, setOpen] = useState(false);
  const reasonId = useId();
  return (
    <li className="doctor-row" data-testid={`doctor-${name}`} data-available={report.available} data-open={open}>
      <button
        type="button"
        className="doctor-toggle"
        aria-expanded={open}
        aria-controls={reasonId}
        onClick={() => setOpen((o) => !o)}
      >
        <span className={`dot ${report.available ? "dot-on" : "dot-off"}`} aria-hidden="true" />
        <span className="doctor-name mono" data-field="name">
          {name}
        </span>
        <span className="doctor-backend mono" data-field="backend">
          {report.backend}
        </span>
        <span className={`doctor-available ${report.available ? "yes" : "no"}`} data-field="available">
          {report.available ? "available" : "unavailable"}
        </span>
      </button>
      <p id={reasonId} className="doctor-reason" data-field="reason" title={open ? undefined : report.reason}>
        {report.reason}
      </p>
    </li>
  );
}
