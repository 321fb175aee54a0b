import { closeApp, minimizeApp, openNative } from "../apps/launch";
import { Clock } from "../components/Clock";
import { restoreLastSession, saveWorkspace } from "../sessions/sessions";
import { snapWindow, toggleMaximize } from "../wm/functions";
import type { SnapZone } from "../wm/geometry";
import { useWm, viewport } from "../wm/store";
import { MenuButton, type MenuEntry } from "./Menu";
import { signOut } from "./signOut";
import { applyShell, useShell } from "./store";
import "./MenuBar.css";

/** The snap zones, by keyboard from the Window menu. */
const SNAPS: [SnapZone, string][] = [
  ["left", "Snap to left half"],
  ["right", "Snap to right half"],
  ["top-left", "Snap to top-left quarter"],
  ["top-right", "Snap to top-right quarter"],
  ["bottom-left", "Snap to bottom-left quarter"],
  ["bottom-right", "Snap to bottom-right quarter"],
  ["left-third", "Snap to left third"],
  ["right-third", "Snap to right third"],
];

const isMac = typeof navigator !== "undefined" && /Mac|iPhone|iPad/.test(navigator.platform);
const mod = isMac ? "⌘" : "Ctrl+";

/** The top bar: system menu, the focused app's name and its Window menu, the clock. */
export function MenuBar() {
  const focused = useWm((s) => (s.focused ? s.windows[s.focused] : undefined));
  const windowCount = useWm((s) => s.order.length);
  const statusOpen = useShell((s) => s.statusOpen);

  const system: MenuEntry[] = [
    { label: "Search apps…", shortcut: `${mod}K`, onSelect: () => applyShell((s) => ({ ...s, launcherOpen: true })) },
    { label: "App Store", onSelect: () => openNative("appstore") },
    { label: "Settings", onSelect: () => openNative("settings") },
    { label: statusOpen ? "Hide system status" : "Show system status", onSelect: () => applyShell((s) => ({ ...s, statusOpen: !s.statusOpen })) },
    "separator",
    { label: "Save workspace", onSelect: () => void saveWorkspace() },
    { label: "Restore workspace", onSelect: () => void restoreLastSession() },
    "separator",
    {
      label: "Close all windows",
      disabled: windowCount === 0,
      onSelect: () => useWm.getState().order.forEach((id) => closeApp(id)),
    },
    "separator",
    { label: "Sign out", onSelect: () => void signOut() },
  ];

  const win: MenuEntry[] = focused
    ? [
        { label: "Minimize", shortcut: `${mod}M`, onSelect: () => minimizeApp(focused.id) },
        { label: focused.mode === "maximized" ? "Restore" : "Maximize", onSelect: () => useWm.getState().apply(toggleMaximize(focused.id, viewport())) },
        ...SNAPS.map(([zone, label]) => ({ label, onSelect: () => useWm.getState().apply(snapWindow(focused.id, zone, viewport())) })),
        "separator",
        { label: "Close", shortcut: `${mod}W`, onSelect: () => closeApp(focused.id) },
      ]
    : [];

  return (
    <header className="menubar" data-testid="menubar">
      <nav className="menubar-left" aria-label="Menu bar">
        <MenuButton label="AgentOS menu" items={system} className="menubar-system">
          <span className="menubar-title" data-testid="menubar-title">
            AgentOS
          </span>
        </MenuButton>
        {focused && (
          <>
            <strong className="menubar-app" data-testid="menubar-app" aria-label={`Active app: ${focused.title}`}>
              {focused.title}
            </strong>
            <MenuButton label="Window menu" items={win}>
              Window
            </MenuButton>
          </>
        )}
      </nav>
      <div className="menubar-right">
        <button type="button" className="menu-button" aria-label="Search apps" title={`Search apps (${mod}K)`} onClick={() => applyShell((s) => ({ ...s, launcherOpen: true }))}>
          <svg viewBox="0 0 24 24" width="14" height="14" fill="none" stroke="currentColor" strokeWidth="2" aria-hidden="true">
            <circle cx="11" cy="11" r="6" />
            <path d="M20 20l-4.5-4.5" />
          </svg>
        </button>
        <Clock />
      </div>
    </header>
  );
}
