import { useState } from "react";
import { directoryList } from "../apps/directory";
import { openById } from "../apps/launch";
import { useRegistry } from "../apps/registry";
import { AppIcon } from "./icons";

/** Icons on the desktop: the system apps, then the registry's. Double-click (or Enter) opens. */
export function DesktopIcons() {
  const registry = useRegistry((s) => s.apps);
  const [selected, setSelected] = useState<string | null>(null);
  const icons = [
    ...directoryList.map((d) => ({ id: d.id, name: d.title, icon: d.icon })),
    ...registry.filter((r) => !directoryList.some((d) => d.id === r.id)).map((r) => ({ id: r.id, name: r.name, icon: r.icon || r.id })),
  ];
  return (
    <ul className="desktop-icons" aria-label="Desktop icons">
      {icons.map((it) => (
        <li key={it.id}>
          <button
            type="button"
            className={`desktop-icon${selected === it.id ? " selected" : ""}`}
            title={`${it.name} (double-click to open)`}
            onClick={(e) => {
              // detail 0: activated by keyboard (Enter/Space) — open; a mouse click only selects.
              if (e.detail === 0) void openById(it.id, it.name);
              else setSelected(it.id);
            }}
            onDoubleClick={() => void openById(it.id, it.name)}
          >
            <AppIcon icon={it.icon} name={it.name} id={it.id} size={48} />
            <span className="desktop-icon-label">{it.name}</span>
          </button>
        </li>
      ))}
    </ul>
  );
}
