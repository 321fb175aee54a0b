import { useWm } from "../wm/store";
import { AppIcon } from "./icons";
import { useShell } from "./store";

/** The Alt+Tab overlay: windows, most recent first; release Alt to switch. */
export function Switcher() {
  const switcher = useShell((s) => s.switcher);
  const windows = useWm((s) => s.windows);
  if (!switcher) return null;
  const ids = switcher.ids.filter((id) => windows[id]);
  return (
    <div className="switcher-backdrop">
      <div className="switcher" role="dialog" aria-label="Switch windows">
        <ul role="listbox" aria-label="Windows" className="switcher-list">
          {ids.map((id) => {
            const w = windows[id]!;
            const selected = switcher.ids[switcher.index] === id;
            return (
              <li key={id} role="option" aria-selected={selected} className={`switcher-item${selected ? " active" : ""}`}>
                <AppIcon icon={w.icon} name={w.title} size={56} />
                <span className="switcher-title">{w.title}</span>
                {w.mode === "minimized" && <span className="switcher-min">minimised</span>}
              </li>
            );
          })}
        </ul>
      </div>
    </div>
  );
}
