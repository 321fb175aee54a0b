import { useEffect, useState } from "react";
import { api } from "../../api/client";
import type { PathAccess } from "../../api/schemas";
import { groupAccessByApp } from "./groupAccess";

/** Which running apps may read or write `path` (GET /api/files/access), and by what grant. */
export function PathAccessPanel({ path, version }: { path: string; version: number }) {
  const [access, setAccess] = useState<PathAccess | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    api.fileAccess(path).then(
      (a) => {
        if (!live) return;
        setAccess(a);
        setError(null);
      },
      (err: unknown) => live && setError(err instanceof Error ? err.message : String(err)),
    );
    return () => {
      live = false;
    };
  }, [path, version]);
  return (
    <section className="fm-access" aria-label={`Apps that may use ${path}`}>
      <h3 className="small">Who can use {path}</h3>
      {error && <p className="muted small">Unknown: {error}</p>}
      {access && access.apps.length === 0 && <p className="muted small">No running app may read or write it.</p>}
      {access && access.apps.length > 0 && (
        <ul className="small">
          {groupAccessByApp(access.apps).map((a) => (
            <li key={a.appId}>
              <strong>{a.name}</strong>
              {a.instances > 1 && <span className="muted"> ({a.instances} windows)</span>} {a.read && a.write ? "reads and writes" : a.read ? "reads" : "writes"}{" "}
              <span className="muted mono">({a.via.join(", ")})</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
