import calculator from "../../e2e/fixtures/calculator.bp.json";
import registry from "../../e2e/fixtures/registry.json";
import showcase from "../../e2e/fixtures/showcase.bp.json";
import todo from "../../e2e/fixtures/todo.bp.json";
import { createMockFetch, type MockHandler } from "../api/mock";
import { sampleHealth } from "./fixtures";

/** The same fixture files the e2e mock server serves. */
export const fixtures = { registry, calculator, showcase, todo };

/** An API that knows the registry and launches the calculator; extra routes override. */
export function mockApi(extra: Record<string, MockHandler | unknown> = {}) {
  let seq = 0;
  return createMockFetch({
    "GET /health": sampleHealth(),
    "GET /api/apps": { apps: [] },
    "GET /api/registry/apps": registry,
    "POST /api/registry/apps/*/launch": ({ path }: { path: string }) => {
      const id = path.split("/")[4]!;
      const bp = ({ calculator, showcase, todo } as Record<string, unknown>)[id];
      const reg = registry.apps.find((a) => a.id === id)!;
      return { id: `app-${++seq}`, app_id: id, name: reg.name, icon: reg.icon, type: reg.type, blueprint: bp };
    },
    "POST /api/apps/*/focus": { ok: true },
    "POST /api/apps/*/window": { ok: true },
    "DELETE /api/apps/*": { ok: true },
    ...extra,
  });
}
