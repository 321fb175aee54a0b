import { AppHost } from "../apps/AppHost";
import { useShell } from "../shell/store";
import { zoneRect } from "./geometry";
import { useWm, viewport } from "./store";
import { Window } from "./Window";

/**
 * All windows, in a stable DOM order (by id) so a focus change never
 * remounts an app; stacking comes from z-index. Plus the snap preview.
 */
export function WindowLayer() {
  const ids = useWm((s) => s.order);
  const preview = useShell((s) => s.snapPreview);
  const stable = [...ids].sort();
  const rect = preview ? zoneRect(preview, viewport()) : null;
  return (
    <div className="window-layer">
      {rect && (
        <div
          className="snap-preview"
          data-testid="snap-preview"
          data-zone={preview}
          style={{ left: rect.x, top: rect.y, width: rect.width, height: rect.height }}
        />
      )}
      {stable.map((id) => (
        <Window key={id} id={id}>
          <AppHost windowId={id} />
        </Window>
      ))}
    </div>
  );
}
