import { Clock } from "./Clock";
import "./MenuBar.css";

export function MenuBar() {
  return (
    <header className="menubar" data-testid="menubar">
      <nav className="menubar-left" aria-label="Menu bar">
        <span className="menubar-title" data-testid="menubar-title">
          AgentOS
        </span>
      </nav>
      <div className="menubar-right">
        <Clock />
      </div>
    </header>
  );
}
