import "./Dock.css";

/** The app dock. Empty for now: apps are added by the app registry later. */
export function Dock() {
  return (
    <div className="dock-area">
      <nav className="dock" data-testid="dock" aria-label="Dock" />
    </div>
  );
}
