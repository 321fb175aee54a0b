/**
 * The renderer's component list checked against the Blueprint JSON Schema
 * the server publishes (GET /api/blueprint/schema.json, generated from its
 * Rust types): a type the server accepts but this desktop cannot draw is
 * said out loud at start-up, not discovered as error boxes later.
 */
import { api } from "../api/client";
import { notify } from "../shell/store";
import { COMPONENT_TYPES } from "./schema";

/** Every string a schema allows for a property named `type` (via `const` or `enum`), anywhere in it. */
export function componentTypesInSchema(schema: unknown): Set<string> {
  const found = new Set<string>();
  const seen = new Set<unknown>();
  const visit = (v: unknown) => {
    if (!v || typeof v !== "object" || seen.has(v)) return;
    seen.add(v);
    if (Array.isArray(v)) return v.forEach(visit);
    const o = v as Record<string, unknown>;
    const props = o.properties as Record<string, unknown> | undefined;
    const t = props?.type as { const?: unknown; enum?: unknown } | undefined;
    if (t && typeof t === "object") {
      if (typeof t.const === "string") found.add(t.const);
      if (Array.isArray(t.enum)) t.enum.forEach((e) => typeof e === "string" && found.add(e));
    }
    Object.values(o).forEach(visit);
  };
  visit(schema);
  return found;
}

/** Component types the server's schema names that the renderer does not know. */
export function missingComponentTypes(schema: unknown): string[] {
  const known = new Set<string>(COMPONENT_TYPES);
  return [...componentTypesInSchema(schema)].filter((t) => !known.has(t)).sort();
}

export async function checkServerSchema(): Promise<void> {
  let schema: unknown;
  try {
    schema = JSON.parse(await api.text("/api/blueprint/schema.json"));
  } catch {
    return; // Not served yet, or not JSON: nothing to compare.
  }
  const missing = missingComponentTypes(schema);
  if (missing.length) notify("error", `The server's Blueprint schema has component types this desktop cannot render: ${missing.join(", ")}`);
}
