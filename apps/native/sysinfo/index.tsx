// About This Computer: a native web app shipped as apps/native/sysinfo/ — a React
// module the desktop bundles and lazy-loads (import.meta.glob), given a context
// (state, executor, window, app id). It asks the kernel through the `system.info`
// tool, which runs under this manifest's `system` permission.
import { useEffect, useState } from "react";

interface Ctx {
  appId: string;
  serverId: string | null;
  execute: (tool: string, params?: Record<string, unknown>) => Promise<unknown>;
  state: { get: <T>(key: string, fallback: T) => T; set: (key: string, value: unknown) => void };
  window: { setTitle: (title: string) => void };
}

const GiB = 1024 ** 3;
const ROWS: [string, string, (v: unknown) => string][] = [
  ["os", "Operating system", String],
  ["kernel_release", "Linux", String],
  ["hostname", "Host name", String],
  ["arch", "Architecture", String],
  ["cpus", "CPUs", String],
  ["memory_total_bytes", "Memory", (v) => `${(Number(v) / GiB).toFixed(1)} GiB`],
  ["memory_available_bytes", "Memory available", (v) => `${(Number(v) / GiB).toFixed(1)} GiB`],
  ["agentos_version", "AgentOS kernel", String],
  ["services_version", "AgentOS services", String],
];

export default function SysInfo({ ctx }: { ctx: Ctx }) {
  const [info, setInfo] = useState<Record<string, unknown> | null>(() => ctx.state.get("info", null));
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    ctx.execute("system.info").then(
      (v) => {
        const o = (v ?? {}) as Record<string, unknown>;
        setInfo(o);
        ctx.state.set("info", o);
        if (typeof o.hostname === "string") ctx.window.setTitle(`About ${o.hostname}`);
      },
      (e: unknown) => setError(e instanceof Error ? e.message : String(e)),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return (
    <div className="app-pane">
      {error && (
        <div className="error-box" role="alert">
          <strong>The kernel did not answer</strong>
          <pre>{error}</pre>
        </div>
      )}
      {!info && !error && <p role="status">Asking the kernel…</p>}
      {info && (
        <table className="data-table" aria-label="This computer">
          <tbody>
            {ROWS.filter(([k]) => info[k] !== undefined).map(([k, label, fmt]) => (
              <tr key={k}>
                <th scope="row">{label}</th>
                <td>{fmt(info[k])}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
