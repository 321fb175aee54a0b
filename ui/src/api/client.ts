import type { z } from "zod";
import { markSignedIn, markSignedOut } from "./auth";
import { loadSchemas, type Schemas } from "./lazySchemas";
import type {
  AppInstance,
  ExecuteResponse,
  FsEntry,
  PathAccess,
  ProcessInfo,
  ProcessStatus,
  RegistryApp,
  ServerSettings,
  SessionDetail,
  SessionSummary,
  WindowGeometry,
} from "./schemas";

/** A failed API call: HTTP status (0 = no answer), the server's error code and message. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
  /** The endpoint does not exist on this server yet. */
  get notFound(): boolean {
    return this.status === 404;
  }
}

export const REQUEST_TIMEOUT_MS = 10_000;

type Fetch = typeof fetch;

/** What the task manager may do to an app's process. */
export type ProcessAction = { kind: "kill" } | { kind: "freeze"; frozen: boolean } | { kind: "priority"; priority: number };

export interface ApiClient {
  login(username: string, password: string): Promise<void>;
  /** Ends this page's session (the cookie is cleared by the answer). */
  logout(): Promise<void>;
  listApps(): Promise<AppInstance[]>;
  focusApp(id: string): Promise<void>;
  setWindow(id: string, geometry: WindowGeometry): Promise<void>;
  /** Closes an app and its children; answers the ids closed. */
  closeApp(id: string): Promise<string[]>;
  /** Closes all of this user's apps and kills their processes (sign-out); answers the ids closed. */
  closeAllApps(): Promise<string[]>;
  grant(id: string, body: { capability: string; scope: "once" | "always" }): Promise<void>;
  listRegistry(query?: { category?: string; search?: string }): Promise<RegistryApp[]>;
  launch(registryId: string): Promise<AppInstance>;
  deleteRegistryApp(id: string): Promise<void>;
  execute(toolId: string, params: Record<string, unknown>, appId?: string): Promise<ExecuteResponse>;
  generateUi(message: string): Promise<{ blueprint: unknown; app_id?: string | undefined }>;
  listSessions(): Promise<SessionSummary[]>;
  /** Saves the running apps (the server knows them) with each one's component state, by app id. */
  saveSession(name: string, state?: Record<string, Record<string, unknown>>): Promise<string>;
  /** The same, as the session `default` (the last session), replacing it; null when nothing was running (the server keeps the last one: 204). */
  saveDefaultSession(name: string, state?: Record<string, Record<string, unknown>>): Promise<string | null>;
  getSession(id: string): Promise<SessionDetail>;
  restoreSession(id: string): Promise<AppInstance[]>;
  listProcesses(): Promise<ProcessInfo[]>;
  /** Kills, freezes/thaws or re-prioritises a running app's process (the kernel's syscalls). */
  processAction(id: string, action: ProcessAction): Promise<ProcessStatus>;
  fsList(path: string, appId?: string): Promise<FsEntry[]>;
  /** Which running apps may read or write `path` of the user's files. */
  fileAccess(path: string): Promise<PathAccess>;
  getSettings(): Promise<ServerSettings>;
  putSettings(settings: ServerSettings): Promise<ServerSettings>;
  /** Raw text of an endpoint (Prometheus `/metrics`). */
  text(path: string): Promise<string>;
}

/**
 * The typed client of the services API. Every call sends the session cookie
 * (`credentials: "same-origin"`), validates the answer with zod, and turns any
 * failure into an ApiError whose message says which call failed and why.
 * A 401 marks the page signed out (see auth.ts).
 */
export function createApiClient(fetchImpl: Fetch = (...args) => fetch(...args)): ApiClient {
  async function call<S extends z.ZodType>(
    method: string,
    path: string,
    schema: ((s: Schemas) => S) | null,
    body?: unknown,
  ): Promise<z.infer<S>> {
    const what = `${method} ${path}`;
    // The schemas load beside the request, not before it (lazySchemas.ts).
    const schemas = loadSchemas();
    let res: Response;
    try {
      res = await fetchImpl(path, {
        method,
        credentials: "same-origin",
        headers: body === undefined ? { Accept: "application/json" } : { Accept: "application/json", "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const timedOut = err instanceof DOMException && err.name === "TimeoutError";
      throw new ApiError(0, timedOut ? "timeout" : "network", `${what}: ${timedOut ? `no answer in ${REQUEST_TIMEOUT_MS / 1000} s` : describe(err)}`);
    }
    const text = await res.text().catch(() => "");
    let json: unknown = undefined;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    if (!res.ok) {
      const parsed = (await schemas.catch(() => null))?.ErrorBodySchema.safeParse(json) ?? { success: false };
      const code = parsed.success ? parsed.data.error.code : `http_${res.status}`;
      const message = parsed.success ? parsed.data.error.message : `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
      if (res.status === 401) markSignedOut(message);
      throw new ApiError(res.status, code, `${what}: ${message}`);
    }
    markSignedIn();
    if (schema === null) return json as z.infer<S>;
    // 204 No Content has no body: the schema says whether that is an answer here.
    if (json === undefined && res.status !== 204) throw new ApiError(res.status, "not_json", `${what}: the answer is not JSON`);
    let loaded: Schemas;
    try {
      loaded = await schemas;
    } catch (err) {
      throw new ApiError(0, "network", `${what}: the desktop's schemas did not load: ${describe(err)}`);
    }
    const parsed = schema(loaded).safeParse(json);
    if (!parsed.success) {
      throw new ApiError(res.status, "malformed", `${what}: unexpected answer: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`);
    }
    return parsed.data;
  }

  /**
   * A tool through the server: a result is `{success: true, data}`; a tool the server
   * refused or that failed (a 4xx with the tool's error code) is `{success: false, error}`,
   * so the app can show it; anything else (signed out, server down) throws.
   */
  async function execute(toolId: string, params: unknown, appId?: string): Promise<ExecuteResponse> {
    try {
      const res = await call("POST", "/api/services/execute", (s) => s.ExecuteResultSchema, { tool: toolId, args: params ?? {}, ...(appId ? { app_id: appId } : {}) });
      return { success: true, data: res.result };
    } catch (err) {
      if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 401) {
        return { success: false, error: err.message };
      }
      throw err;
    }
  }

  const enc = encodeURIComponent;
  return {
    login: (username, password) => call("POST", "/api/auth/login", null, { username, password }).then(() => undefined),
    logout: () => call("POST", "/api/auth/logout", null, {}).then(() => undefined),
    listApps: () => call("GET", "/api/apps", (s) => s.AppListSchema),
    focusApp: (id) => call("POST", `/api/apps/${enc(id)}/focus`, null, {}).then(() => undefined),
    // The server's WindowPatch: x, y, width, height, state (British spelling); z is the server's.
    setWindow: (id, g) =>
      call("POST", `/api/apps/${enc(id)}/window`, null, { x: g.x, y: g.y, width: g.width, height: g.height, state: serverWindowState(g.state) }).then(() => undefined),
    grant: (id, body) => call("POST", `/api/apps/${enc(id)}/grants`, null, body).then(() => undefined),
    closeApp: async (id) => {
      const res = await call("DELETE", `/api/apps/${enc(id)}`, null);
      const parsed = (await loadSchemas().catch(() => null))?.ClosedSchema.safeParse(res);
      return parsed?.success ? parsed.data.closed : [id];
    },
    closeAllApps: async () => {
      return (await call("DELETE", "/api/apps", (s) => s.ClosedSchema)).closed;
    },
    listRegistry: (query = {}) => {
      const params = new URLSearchParams();
      if (query.category) params.set("category", query.category);
      if (query.search) params.set("search", query.search);
      const qs = params.toString();
      return call("GET", `/api/registry/apps${qs ? `?${qs}` : ""}`, (s) => s.RegistryListSchema);
    },
    launch: (registryId) => call("POST", `/api/registry/apps/${enc(registryId)}/launch`, (s) => s.LaunchResponseSchema, {}),
    deleteRegistryApp: (id) => call("DELETE", `/api/registry/apps/${enc(id)}`, null).then(() => undefined),
    execute: (toolId, params, appId) => execute(toolId, params, appId),
    generateUi: (message) => call("POST", "/api/generate-ui", (s) => s.GenerateUiResponseSchema, { prompt: message }),
    listSessions: () => call("GET", "/api/sessions", (s) => s.SessionListSchema),
    saveSession: async (name, state = {}) => (await call("POST", "/api/sessions/save", (s) => s.SessionSaveResponseSchema, { name, state })).id,
    saveDefaultSession: async (name, state = {}) => {
      const saved = await call("POST", "/api/sessions/save-default", (s) => s.SessionSaveResponseSchema.optional(), { name, state });
      return saved?.id ?? null;
    },
    getSession: (id) => call("GET", `/api/sessions/${enc(id)}`, (s) => s.SessionDetailSchema),
    restoreSession: (id) => call("POST", `/api/sessions/${enc(id)}/restore`, (s) => s.SessionRestoreResponseSchema, {}),
    listProcesses: () => call("GET", "/api/processes", (s) => s.ProcessListSchema),
    processAction: (id, action) => {
      const { kind, ...body } = action;
      return call("POST", `/api/apps/${enc(id)}/process/${kind}`, (s) => s.ProcessStatusSchema, body);
    },
    fsList: async (path, appId) => {
      const res = await execute("fs.list", { path }, appId);
      if (!res.success) throw new ApiError(200, "tool_failed", `fs.list ${path}: ${res.error ?? "failed"}`);
      // The server lists `{name, is_dir, size}`; each entry's path is the folder's plus its name.
      const raw = Array.isArray(res.data) ? res.data : (res.data as { entries?: unknown } | null)?.entries;
      const entries = Array.isArray(raw)
        ? raw.map((e) => (e && typeof e === "object" && !("path" in e) && "name" in e ? { ...e, path: `${path.replace(/\/$/, "")}/${String((e as { name: unknown }).name)}` } : e))
        : res.data;
      const parsed = (await loadSchemas()).FsListSchema.safeParse(entries);
      if (!parsed.success) throw new ApiError(200, "malformed", `fs.list ${path}: unexpected data: ${parsed.error.issues[0]?.message ?? ""}`);
      return parsed.data;
    },
    getSettings: () => call("GET", "/api/settings", (s) => s.ServerSettingsSchema),
    putSettings: (settings) => call("PUT", "/api/settings", (s) => s.ServerSettingsSchema, settings),
    fileAccess: (path) => call("GET", `/api/files/access?path=${enc(path)}`, (s) => s.PathAccessSchema),
    text: async (path) => {
      let res: Response;
      try {
        res = await fetchImpl(path, { credentials: "same-origin", signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      } catch (err) {
        throw new ApiError(0, "network", `GET ${path}: ${describe(err)}`);
      }
      if (res.status === 401) markSignedOut("");
      if (!res.ok) throw new ApiError(res.status, `http_${res.status}`, `GET ${path}: HTTP ${res.status}`);
      return res.text();
    },
  };
}

/** Our window mode as the server's WindowState enum (British spelling). */
export function serverWindowState(m: WindowGeometry["state"]): "normal" | "minimised" | "maximised" {
  return m === "minimized" ? "minimised" : m === "maximized" ? "maximised" : "normal";
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The page's client. Tests build their own with a mock fetch. */
export let api: ApiClient = createApiClient();
/** Test hook: swap the page's client. */
export function setApiClient(client: ApiClient): void {
  api = client;
}
