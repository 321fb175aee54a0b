/**
 * The file manager's "who can use this path" list, by app: the server answers per
 * running instance (GET /api/files/access), so two Files windows would list the
 * same grants twice. One row per app instead, with what any of its windows may do,
 * every grant once, and how many windows it has open.
 */
import type { PathAccess } from "../../api/schemas";

export interface AppAccess {
  /** The registry id the instances were launched from. */
  appId: string;
  name: string;
  read: boolean;
  write: boolean;
  /** The grants that give it, each once, in the order first seen. */
  via: string[];
  /** How many running instances (windows) of the app this covers. */
  instances: number;
}

/** One entry per app, in the order each app first appears. */
export function groupAccessByApp(apps: PathAccess["apps"]): AppAccess[] {
  const byApp = new Map<string, AppAccess>();
  for (const a of apps) {
    const seen = byApp.get(a.app_id);
    if (!seen) {
      byApp.set(a.app_id, { appId: a.app_id, name: a.name, read: a.read, write: a.write, via: [...new Set(a.via)], instances: 1 });
      continue;
    }
    seen.read ||= a.read;
    seen.write ||= a.write;
    for (const v of a.via) if (!seen.via.includes(v)) seen.via.push(v);
    seen.instances += 1;
  }
  return [...byApp.values()];
}
