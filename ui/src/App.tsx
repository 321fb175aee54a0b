import { useEffect } from "react";
import { SystemStatus } from "./components/SystemStatus";
import { useHealthPolling } from "./health/useHealthPolling";
import { bootDesktop, startGeometrySync } from "./shell/boot";
import { DesktopIcons } from "./shell/DesktopIcons";
import { Dock } from "./shell/Dock";
import { Launcher } from "./shell/Launcher";
import { MenuBar } from "./shell/MenuBar";
import { Notices } from "./shell/Notices";
import { SignInNotice } from "./shell/SignInNotice";
import { useShell } from "./shell/store";
import { Switcher } from "./shell/Switcher";
import { useGlobalShortcuts } from "./shell/useGlobalShortcuts";
import { warmBlueprintRenderer } from "./apps/AppHost";
import { useSettings } from "./apps/settings/settingsStore";
import { fitToViewport } from "./wm/functions";
import { useWm, viewport } from "./wm/store";
import { WindowLayer } from "./wm/WindowLayer";
import "./App.css";

export function App() {
  useHealthPolling();
  useGlobalShortcuts();
  const statusOpen = useShell((s) => s.statusOpen);
  const theme = useSettings((s) => s.theme);
  const accent = useSettings((s) => s.accent);
  const wallpaper = useSettings((s) => s.wallpaper);

  useEffect(() => {
    void bootDesktop();
    warmBlueprintRenderer();
    const stop = startGeometrySync();
    const onResize = () => useWm.getState().apply(fitToViewport(viewport()));
    window.addEventListener("resize", onResize);
    return () => {
      stop();
      window.removeEventListener("resize", onResize);
    };
  }, []);

  return (
    <div className="desktop" data-testid="desktop" data-theme={theme} data-wallpaper={wallpaper} style={{ ["--accent" as string]: accent }}>
      <MenuBar />
      <main className="desktop-surface" aria-label="Desktop">
        <DesktopIcons />
        {statusOpen && (
          <aside className="desktop-widget" aria-label="System status widget">
            <SystemStatus />
          </aside>
        )}
        <SignInNotice />
      </main>
      <WindowLayer />
      <Dock />
      <Launcher />
      <Switcher />
      <Notices />
    </div>
  );
}
