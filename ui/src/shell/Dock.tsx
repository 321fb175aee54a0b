import { useRef, useState } from "react";
import { useShallow } from "zustand/react/shallow";
import { directoryList } from "../apps/directory";
import { activateApp } from "../apps/launch";
import { useProcs } from "../apps/processes";
import { useWm } from "../wm/store";
import { roveIndex } from "./focus";
import { AppIcon } from "./icons";
import "./Dock.css";

interface DockItem {
  appId: string;
  name: string;
  icon: string;
  running: boolean;
}

/**
 * Favourites, then running apps that are not favourites; a dot under running ones.
 * One tab stop for the whole dock (F6 reaches it); the arrow keys, Home and End move
 * along it, Enter or Space opens or restores.
 */
export function Dock() {
  const running = useProcs(
    useShallow((s) => {
      const seen = new Map<string, string>();
      for (const p of Object.values(s.procs)) if (!seen.has(p.appId)) seen.set(p.appId, p.windowId);
      return [...seen.entries()].map(([appId, windowId]) => `${appId}\u0000${windowId}`);
    }),
  );
  const titles = useWm(useShallow((s) => Object.fromEntries(Object.values(s.windows).map((w) => [w.id, `${w.title}\u0000${w.icon}`]))));
  const runningIds = new Set(running.map((r) => r.split("\u0000")[0]!));

  const items: DockItem[] = directoryList
    .filter((d) => d.favourite)
    .map((d) => ({ appId: d.id, name: d.title, icon: d.icon, running: runningIds.has(d.id) }));
  for (const r of running) {
    const [appId, windowId] = r.split("\u0000") as [string, string];
    if (items.some((i) => i.appId === appId)) continue;
    const [name, icon] = (titles[windowId] ?? `${appId}\u0000`).split("\u0000") as [string, string];
    items.push({ appId, name, icon: icon || appId, running: true });
  }
  const [active, setActive] = useState(0);
  const nav = useRef<HTMLElement>(null);
  const current = Math.min(active, Math.max(0, items.length - 1));
  const favourites = items.filter((i) => directoryList.some((d) => d.id === i.appId && d.favourite)).length;

  return (
    <div className="dock-area">
      <nav ref={nav} className="dock" data-testid="dock" aria-label="Dock">
        {items.map((item, i) => (
          <span key={item.appId} className="dock-slot">
            {i === favourites && i > 0 && <span className="dock-divider" aria-hidden="true" />}
            <button
              type="button"
              className="dock-item"
              aria-label={item.running ? `${item.name}, running` : item.name}
              title={item.name}
              data-app-id={item.appId}
              data-running={item.running}
              tabIndex={i === current ? 0 : -1}
              onFocus={() => setActive(i)}
              onKeyDown={(e) => {
                const to = roveIndex(items.length, i, e.key);
                if (to === null) return;
                e.preventDefault();
                setActive(to);
                nav.current?.querySelectorAll<HTMLButtonElement>("button.dock-item")[to]?.focus();
              }}
              onClick={() => activateApp(item.appId, item.name)}
            >
              <AppIcon icon={item.icon} name={item.name} id={item.appId} size={44} />
              <span className={`dock-dot${item.running ? " on" : ""}`} aria-hidden="true" />
            </button>
          </span>
        ))}
      </nav>
    </div>
  );
}
