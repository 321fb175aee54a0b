import { useRef, useState } from "react";
import { directoryList } from "../apps/directory";
import { openById } from "../apps/launch";
import { useRegistry } from "../apps/registry";
import { AppIcon } from "./icons";

/**
 * Icons on the desktop: the system apps, then the registry's own apps. The
 * registry's system entries (the shell the Terminal runs, Quick Settings, the App
 * Hub) stay in the launcher and the App Store: on the desktop they would stand
 * beside the system apps that front them. Double-click
 * (or Enter/Space) opens. One tab stop for the whole grid; arrow keys move
 * (the grid fills column by column, so Up/Down step and Left/Right jump a
 * column), Home/End go to the ends.
 */
export function DesktopIcons() {
  const registry = useRegistry((s) => s.apps);
  const [selected, setSelected] = useState<string | null>(null);
  const [active, setActive] = useState(0);
  const list = useRef<HTMLUListElement>(null);
  const icons = [
    ...directoryList.map((d) => ({ id: d.id, name: d.title, icon: d.icon })),
    ...registry
      .filter((r) => r.category !== "system" && !directoryList.some((d) => d.id === r.id))
      .map((r) => ({ id: r.id, name: r.name, icon: r.icon || r.id })),
  ];
  const current = Math.min(active, Math.max(0, icons.length - 1));

  const move = (to: number) => {
    const i = Math.max(0, Math.min(icons.length - 1, to));
    setActive(i);
    setSelected(icons[i]?.id ?? null);
    list.current?.querySelectorAll<HTMLButtonElement>("button.desktop-icon")[i]?.focus();
  };
  const perColumn = () => {
    const buttons = [...(list.current?.querySelectorAll<HTMLElement>("button.desktop-icon") ?? [])];
    const left = buttons[0]?.offsetLeft;
    return Math.max(1, buttons.filter((b) => b.offsetLeft === left).length);
  };

  return (
    <ul ref={list} className="desktop-icons" aria-label="Desktop icons">
      {icons.map((it, i) => (
        <li key={it.id}>
          <button
            type="button"
            className={`desktop-icon${selected === it.id ? " selected" : ""}`}
            title={`${it.name} (double-click to open)`}
            tabIndex={i === current ? 0 : -1}
            onFocus={() => setActive(i)}
            onClick={(e) => {
              // detail 0: activated by keyboard (Enter/Space) — open; a mouse click only selects.
              if (e.detail === 0) void openById(it.id, it.name);
              else setSelected(it.id);
            }}
            onDoubleClick={() => void openById(it.id, it.name)}
            onKeyDown={(e) => {
              if (e.key === "ArrowDown") move(i + 1);
              else if (e.key === "ArrowUp") move(i - 1);
              else if (e.key === "ArrowRight") move(i + perColumn());
              else if (e.key === "ArrowLeft") move(i - perColumn());
              else if (e.key === "Home") move(0);
              else if (e.key === "End") move(icons.length - 1);
              else return;
              e.preventDefault();
            }}
          >
            <AppIcon icon={it.icon} name={it.name} id={it.id} size={48} />
            <span className="desktop-icon-label">{it.name}</span>
          </button>
        </li>
      ))}
    </ul>
  );
}
