/**
 * A fetch for tests: answers API paths from a table of handlers, records the
 * calls, and fails loudly (a 404 with the error body) on anything not listed.
 * The e2e mock server (e2e/mock-server.mjs) serves the same fixture files.
 */
export type MockHandler = (req: { method: string; path: string; url: URL; body: unknown }) => unknown;

export interface MockFetch {
  fetch: typeof fetch;
  calls: { method: string; path: string; body: unknown }[];
}

/** A handler's return: a plain value is a 200 JSON answer; `status()` sets the code. */
export class MockAnswer {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}
export const status = (code: number, body: unknown = undefined) => new MockAnswer(code, body);
export const apiError = (code: number, errCode: string, message: string) => status(code, { error: { code: errCode, message } });

export function createMockFetch(routes: Record<string, MockHandler | unknown>): MockFetch {
  const calls: MockFetch["calls"] = [];
  const fetchImpl = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(String(input), "http://desktop.test");
    const method = (init.method ?? "GET").toUpperCase();
    const body = typeof init.body === "string" && init.body ? JSON.parse(init.body) : undefined;
    calls.push({ method, path: url.pathname, body });
    const key = `${method} ${url.pathname}`;
    const entry =
      routes[key] ??
      Object.entries(routes).find(([k]) => {
        const [m, pattern] = k.split(" ");
        return m === method && pattern?.includes("*") && new RegExp(`^${pattern.replace(/\*/g, "[^/]+")}$`).test(url.pathname);
      })?.[1];
    if (entry === undefined) {
      return new Response(JSON.stringify({ error: { code: "not_found", message: `${key} is not mocked` } }), { status: 404 });
    }
    const out = typeof entry === "function" ? (entry as MockHandler)({ method, path: url.pathname, url, body }) : entry;
    const answer = out instanceof MockAnswer ? out : new MockAnswer(200, out);
    return new Response(answer.body === undefined ? null : JSON.stringify(answer.body), {
      status: answer.status,
      headers: { "Content-Type": "application/json" },
    });
  };
  return { fetch: fetchImpl as typeof fetch, calls };
}
