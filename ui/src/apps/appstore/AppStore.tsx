import { useEffect, useMemo, useState } from "react";
import { api } from "../../api/client";
import { capitalize } from "../../lib/format";
import { notify } from "../../shell/store";
import { AppIcon } from "../../shell/icons";
import type { AppContext } from "../context";
import { launchRegistryApp } from "../launch";
import { loadRegistry, useRegistry } from "../registry";
import "../apps.css";

/** The registry: browse by category, search, launch, delete saved apps. */
export default function AppStore(_: { ctx: AppContext }) {
  const registry = useRegistry();
  const [category, setCategory] = useState("all");
  const [search, setSearch] = useState("");
  useEffect(() => {
    void loadRegistry();
  }, []);
  const categories = useMemo(() => ["all", ...new Set(registry.apps.map((a) => a.category))], [registry.apps]);
  const q = search.trim().toLowerCase();
  const shown = registry.apps.filter(
    (a) => (category === "all" || a.category === category) && (!q || a.name.toLowerCase().includes(q) || a.description.toLowerCase().includes(q)),
  );

  const remove = async (id: string, name: string) => {
    if (!window.confirm(`Delete “${name}” from the registry?`)) return;
    try {
      await api.deleteRegistryApp(id);
      notify("info", `Deleted ${name}`);
      await loadRegistry();
    } catch (err) {
      notify("error", `Deleting ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  return (
    <div className="app-split">
      <nav className="sidebar" aria-label="Categories">
        {categories.map((c) => (
          <button key={c} type="button" className={`sidebar-item${c === category ? " active" : ""}`} aria-pressed={c === category} onClick={() => setCategory(c)}>
            {c === "all" ? "All apps" : capitalize(c)}
          </button>
        ))}
      </nav>
      <div className="app-pane">
        <input className="search" type="search" aria-label="Search the registry" placeholder="Search…" value={search} onChange={(e) => setSearch(e.target.value)} />
        {registry.phase === "error" && (
          <div className="error-box" role="alert">
            <strong>Registry unavailable</strong>
            <pre>{registry.error}</pre>
          </div>
        )}
        {registry.phase === "loading" && <p role="status">Loading…</p>}
        <ul className="store-grid" aria-label="Apps">
          {shown.map((a) => (
            <li key={a.id} className="store-card">
              <AppIcon icon={a.icon} name={a.name} id={a.id} size={40} />
              <div className="store-card-text">
                <strong>{a.name}</strong>
                <span className="muted small">
                  {capitalize(a.category)}
                  {a.version ? ` · v${a.version}` : ""}
                </span>
                {a.description && <span className="small">{a.description}</span>}
              </div>
              <div className="store-card-actions">
                <button type="button" className="btn btn-primary" aria-label={`Open ${a.name}`} onClick={() => void launchRegistryApp(a)}>
                  Open
                </button>
                {!a.builtin && (
                  <button type="button" className="btn" aria-label={`Delete ${a.name}`} onClick={() => void remove(a.id, a.name)}>
                    Delete
                  </button>
                )}
              </div>
            </li>
          ))}
        </ul>
        {registry.phase === "ok" && shown.length === 0 && <p className="muted">No app matches.</p>}
      </div>
    </div>
  );
}
