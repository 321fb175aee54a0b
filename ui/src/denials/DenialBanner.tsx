import { useProcs } from "../apps/processes";
import { dropDenial, grant, useDenials } from "./denials";

/** In a window: what the kernel refused this app and why, with the choices. */
export function DenialBanner({ windowId }: { windowId: string }) {
  const serverId = useProcs((s) => s.procs[windowId]?.serverId ?? null);
  const denials = useDenials((s) => (serverId ? s.byApp[serverId] : undefined));
  if (!denials?.length) return null;
  return (
    <div className="denials">
      {denials.map((d) => (
        <div key={d.key} className="denial" role="alert">
          <p>
            <strong>Denied:</strong> <code>{d.access}</code> — {d.reason}
          </p>
          <div className="denial-actions">
            {d.capability && (
              <>
                <button type="button" className="btn btn-primary" onClick={() => void grant(d, "once")}>
                  Allow once
                </button>
                <button type="button" className="btn" onClick={() => void grant(d, "always")}>
                  Always allow
                </button>
              </>
            )}
            <button type="button" className="btn" onClick={() => dropDenial(d.appId, d.key)}>
              {d.capability ? "Keep denied" : "Dismiss"}
            </button>
          </div>
        </div>
      ))}
    </div>
  );
}
