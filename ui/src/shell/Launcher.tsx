import { useEffect, useId, useMemo, useRef, useState } from "react";
import { directoryList } from "../apps/directory";
import { launchRegistryApp, openNative } from "../apps/launch";
import { loadRegistry, useRegistry } from "../apps/registry";
import { AppIcon } from "./icons";
import { applyShell, useShell } from "./store";
import "./Launcher.css";

export interface Candidate {
  id: string;
  name: string;
  icon: string;
  category: string;
  description: string;
  type: "native_web" | "blueprint" | "native_proc";
}

/**
 * Ranks apps for a query: name prefix, then a word of the name, then name
 * substring, then category, then description. Empty query: everything, by name.
 */
export function searchApps(all: Candidate[], query: string): Candidate[] {
  const q = query.trim().toLowerCase();
  if (!q) return [...all].sort((a, b) => a.name.localeCompare(b.name));
  const scored: [number, Candidate][] = [];
  for (const c of all) {
    const name = c.name.toLowerCase();
    const score = name.startsWith(q)
      ? 0
      : name.split(/\s+/).some((w) => w.startsWith(q))
        ? 1
        : name.includes(q)
          ? 2
          : c.category.toLowerCase().startsWith(q)
            ? 3
            : c.description.toLowerCase().includes(q)
              ? 4
              : -1;
    if (score >= 0) scored.push([score, c]);
  }
  return scored.sort((a, b) => a[0] - b[0] || a[1].name.localeCompare(b[1].name)).map(([, c]) => c);
}

/** Spotlight-style launcher (Ctrl+K / ⌘K): a combobox over the registry and the system apps. */
export function Launcher() {
  const open = useShell((s) => s.launcherOpen);
  if (!open) return null;
  return <LauncherDialog />;
}

function LauncherDialog() {
  const registry = useRegistry();
  const [query, setQuery] = useState("");
  const [active, setActive] = useState(0);
  const input = useRef<HTMLInputElement>(null);
  const listId = useId();
  const returnFocus = useRef<Element | null>(document.activeElement);

  useEffect(() => {
    input.current?.focus();
    // Every time: an app saved elsewhere (the App Store, another tab, a script) shows up;
    // what was loaded before stays listed meanwhile.
    void loadRegistry();
    const back = returnFocus.current;
    return () => {
      if (back instanceof HTMLElement && document.contains(back) && !document.querySelector(".app-window.focused")?.contains(document.activeElement)) back.focus();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const candidates = useMemo<Candidate[]>(() => {
    const system: Candidate[] = directoryList.map((d) => ({ id: d.id, name: d.title, icon: d.icon, category: d.category, description: d.description, type: "native_web" }));
    const fromRegistry: Candidate[] = registry.apps
      .filter((r) => !directoryList.some((d) => d.id === r.id))
      .map((r) => ({ id: r.id, name: r.name, icon: r.icon || r.id, category: r.category, description: r.description, type: r.type }));
    return [...system, ...fromRegistry];
  }, [registry.apps]);

  const results = useMemo(() => searchApps(candidates, query), [candidates, query]);
  const trimmed = query.trim();
  const options = [...results.map((c) => ({ kind: "app" as const, c })), ...(trimmed ? [{ kind: "generate" as const, c: null }] : [])];
  const current = Math.min(active, Math.max(0, options.length - 1));
  const close = () => applyShell((s) => ({ ...s, launcherOpen: false }));

  const choose = (i: number) => {
    const o = options[i];
    if (!o) return;
    close();
    // The generator (and the Blueprint schemas it builds with) loads on first use.
    if (o.kind === "generate") void import("../blueprint/generate").then((m) => m.generateApp(trimmed));
    else if (o.c.type === "native_web" && directoryList.some((d) => d.id === o.c.id)) openNative(o.c.id);
    else void launchRegistryApp(o.c);
  };

  const onKeyDown = (e: React.KeyboardEvent) => {
    if (e.key === "ArrowDown") setActive((current + 1) % Math.max(1, options.length));
    else if (e.key === "ArrowUp") setActive((current - 1 + options.length) % Math.max(1, options.length));
    else if (e.key === "Enter") choose(current);
    else if (e.key === "Escape") close();
    else if (e.key === "Tab") {
      // Focus stays in the field: the dialog is modal.
    } else return;
    e.preventDefault();
  };

  const optionId = (i: number) => `${listId}-opt-${i}`;
  return (
    <div className="launcher-backdrop" onPointerDown={(e) => e.target === e.currentTarget && close()}>
      <div className="launcher" role="dialog" aria-modal="true" aria-label="Launcher">
        <div className="launcher-field">
          <svg viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" strokeWidth="2" aria-hidden="true">
            <circle cx="11" cy="11" r="6" />
            <path d="M20 20l-4.5-4.5" />
          </svg>
          <input
            ref={input}
            role="combobox"
            aria-label="Search apps"
            aria-expanded={options.length > 0}
            aria-controls={listId}
            aria-autocomplete="list"
            aria-activedescendant={options.length ? optionId(current) : undefined}
            placeholder="Search apps, or describe one to generate…"
            value={query}
            onChange={(e) => {
              setQuery(e.target.value);
              setActive(0);
            }}
            onKeyDown={onKeyDown}
            spellCheck={false}
            autoComplete="off"
          />
        </div>
        <ul id={listId} role="listbox" aria-label="Apps" className="launcher-results">
          {options.map((o, i) => (
            <li
              key={o.kind === "app" ? o.c.id : "generate"}
              id={optionId(i)}
              role="option"
              aria-selected={i === current}
              className={`launcher-option${i === current ? " active" : ""}`}
              onPointerMove={() => i !== current && setActive(i)}
              onClick={() => choose(i)}
            >
              {o.kind === "app" ? (
                <>
                  <AppIcon icon={o.c.icon} name={o.c.name} id={o.c.id} size={28} />
                  <span className="launcher-name">{o.c.name}</span>
                  <span className="launcher-category">{o.c.category}</span>
                </>
              ) : (
                <>
                  <AppIcon icon="sparkles" name="Generate" size={28} />
                  <span className="launcher-name">Generate “{trimmed}”</span>
                  <span className="launcher-category">new app</span>
                </>
              )}
            </li>
          ))}
        </ul>
        <p className="launcher-status" role="status">
          {registry.phase === "loading"
            ? "Loading the registry…"
            : registry.phase === "error"
              ? `Registry unavailable: ${registry.error}`
              : results.length === 0 && trimmed
                ? "No app matches; Enter asks the generator to build one."
                : `${results.length} app${results.length === 1 ? "" : "s"}`}
        </p>
      </div>
    </div>
  );
}
