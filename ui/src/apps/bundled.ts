/**
 * Native web apps shipped in apps/native/<id>/ (each an `index.tsx` whose
 * default export takes `{ ctx }`, beside the manifest.json the services layer
 * seeds into the registry): bundled with the desktop and loaded lazily, on the
 * first window of each.
 */
import { lazy, type LazyExoticComponent } from "react";
import type { NativeApp } from "./context";

const modules = import.meta.glob<{ default: NativeApp }>("../../../apps/native/*/index.tsx");

const byId = new Map<string, () => Promise<{ default: NativeApp }>>(
  Object.entries(modules).map(([path, load]) => [path.split("/").at(-2)!, load]),
);
const loaded = new Map<string, LazyExoticComponent<NativeApp>>();

/** The ids of the bundled apps. */
export const bundledIds = (): string[] => [...byId.keys()].sort();

/** The lazy component of bundled app `id`, if there is one. */
export function bundledApp(id: string): LazyExoticComponent<NativeApp> | null {
  const load = byId.get(id);
  if (!load) return null;
  let c = loaded.get(id);
  if (!c) {
    c = lazy(load);
    loaded.set(id, c);
  }
  return c;
}
