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
    "GET /api/apps": [],
    "GET /api/registry/apps": registry,
    "POST /api/registry/apps/*/launch": ({ path }: { path: string }) => {
      const id = path.split("/")[4]!;
      const bp = ({ calculator, showcase, todo } as Record<string, unknown>)[id];
      const reg = registry.find((a) => a.id === id)!;
      return { id: `app-${++seq}`, app_id: id, name: reg.name, icon: reg.icon, kind: reg.kind, source: { kind: reg.kind, blueprint: bp } };
    },
    "POST /api/apps/*/focus": {},
    "POST /api/apps/*/window": {},
    "DELETE /api/apps/*": ({ path }: { path: string }) => ({ closed: [path.split("/")[3]] }),
    ...extra,
  });
}
