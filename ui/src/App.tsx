import { Dock } from "./components/Dock";
import { MenuBar } from "./components/MenuBar";
import { SystemStatus } from "./components/SystemStatus";
import { useHealthPolling } from "./health/useHealthPolling";
import "./App.css";

export function App() {
  useHealthPolling();
  return (
    <div className="desktop" data-testid="desktop">
      <MenuBar />
      <main className="desktop-surface">
        <SystemStatus />
      </main>
      <Dock />
    </div>
  );
}
