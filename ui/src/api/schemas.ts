import { z } from "zod";

/**
 * Response shapes of the services API (issue 10), as this desktop reads them.
 *
 * Objects are loose (unknown extra fields are dropped) so the server can grow
 * without breaking an older UI; every field the UI relies on is listed here.
 * Where the server's wrapping is still open (a bare array or `{ apps: [...] }`),
 * both are accepted and the wrapped form is the documented one (ui/README.md).
 */

/** `{"error": {"code": "...", "message": "..."}}`, every non-2xx body. */
export const ErrorBodySchema = z.object({
  error: z.object({ code: z.string(), message: z.string() }),
});

export const AppKindSchema = z
  .enum(["blueprint", "native_web", "native_proc", "native_process"])
  .transform((k) => (k === "native_process" ? "native_proc" : k));
export type AppKind = z.output<typeof AppKindSchema>;

/**
 * The server names an app's kind `kind` (`native_process`) and keeps a
 * Blueprint under `source.blueprint`; older shapes used `type` and a top-level
 * `blueprint`. Both read the same.
 */
function normaliseApp(v: unknown): unknown {
  if (!v || typeof v !== "object" || Array.isArray(v)) return v;
  const o = v as Record<string, unknown>;
  const source = (o.source && typeof o.source === "object" ? o.source : {}) as Record<string, unknown>;
  return {
    ...o,
    type: o.type ?? o.kind ?? source.kind,
    blueprint: o.blueprint ?? source.blueprint,
  };
}

export const WindowModeSchema = z.enum(["normal", "minimized", "maximized"]);
/** The server spells window states the British way (`minimised`); the desktop reads both. */
const ServerWindowModeSchema = z
  .enum(["normal", "minimized", "maximized", "minimised", "maximised"])
  .transform((m) => (m === "minimised" ? "minimized" : m === "maximised" ? "maximized" : m));

/** Body of `POST /api/apps/{id}/window`, and `window` of an app instance. */
export const WindowGeometrySchema = z.object({
  x: z.number(),
  y: z.number(),
  width: z.number().nonnegative(),
  height: z.number().nonnegative(),
  state: WindowModeSchema,
  z: z.number().int().nonnegative().optional(),
});
/**
 * A window as the server reports it (`state` may be missing or British): its rect
 * once the desktop has placed it (the four fields together), none for a new app —
 * the server invents no geometry, the desktop places new windows.
 */
const ServerWindowSchema = z
  .object({
    x: z.number().optional(),
    y: z.number().optional(),
    width: z.number().nonnegative().optional(),
    height: z.number().nonnegative().optional(),
    state: ServerWindowModeSchema.optional().default("normal"),
    z: z.number().int().nonnegative().optional(),
  })
  .transform(({ x, y, width, height, state, z: order }, ctx) => {
    const given = [x, y, width, height].filter((v) => v !== undefined).length;
    if (given !== 0 && given !== 4) {
      ctx.addIssue({ code: "custom", message: "a window's x, y, width and height come together" });
      return z.NEVER;
    }
    const rect = x !== undefined && y !== undefined && width !== undefined && height !== undefined ? { x, y, width, height } : undefined;
    return { ...(rect ? { rect } : {}), state, ...(order !== undefined ? { z: order } : {}) };
  });
export type ServerWindow = z.output<typeof ServerWindowSchema>;
export type WindowGeometry = z.infer<typeof WindowGeometrySchema>;

/** One entry of the registry: `GET /api/registry/apps`. */
export const RegistryAppSchema = z.preprocess(normaliseApp, z.object({
  id: z.string().min(1),
  name: z.string(),
  description: z.string().optional().default(""),
  icon: z.string().nullish().transform((i) => i ?? ""),
  category: z.string().optional().default("other"),
  version: z.string().optional(),
  type: AppKindSchema.optional().default("blueprint"),
  /** Shipped with AgentOS (cannot be deleted). */
  builtin: z.boolean().optional(),
}));
export type RegistryApp = z.output<typeof RegistryAppSchema>;

/** A running app: `GET /api/apps`, the answer of a launch. */
export const AppInstanceSchema = z.preprocess(normaliseApp, z.object({
  /** Instance id, the `{id}` of /api/apps/{id}/…. */
  id: z.string().min(1),
  /** Registry id this instance was launched from. */
  app_id: z.string().optional(),
  name: z.string(),
  icon: z.string().optional().default(""),
  type: AppKindSchema.optional().default("blueprint"),
  state: z.string().optional(),
  parent_id: z.string().nullable().optional(),
  /** The Blueprint to render, for `blueprint` apps (validated by the renderer). */
  blueprint: z.unknown().optional(),
  window: ServerWindowSchema.optional(),
  /** The kernel pid of a native process app. */
  pid: z.number().int().nullable().optional(),
  /** Saved component state (a restored session). */
  component_state: z.record(z.string(), z.unknown()).optional(),
  /** Native web apps not built into the desktop: a same-origin ES module URL (apps/native/<id>/). */
  entry: z.string().startsWith("/").optional(),
}));
export type AppInstance = z.output<typeof AppInstanceSchema>;

/**
 * `{ [key]: X[] }`, or a bare `X[]` read as if wrapped (so errors name the
 * item that is wrong, e.g. `apps.0.id`, not just "invalid input").
 */
function listOf<T extends z.ZodType>(item: T, key: string) {
  return z
    .preprocess((v) => (Array.isArray(v) ? { [key]: v } : v), z.object({ [key]: z.array(item) }))
    .transform((o) => o[key] as z.output<T>[]);
}

export const AppListSchema = listOf(AppInstanceSchema, "apps");
export const RegistryListSchema = listOf(RegistryAppSchema, "apps");
/** A launch answers the instance, bare or as `{ app: … }`. */
export const LaunchResponseSchema = z.preprocess(
  (v) => (v && typeof v === "object" && "app" in v && !("id" in v) ? (v as { app: unknown }).app : v),
  AppInstanceSchema,
);

/** What a tool call came to, for the page: `data` on success, a readable `error` otherwise. */
export const ExecuteResponseSchema = z.object({
  success: z.boolean(),
  data: z.unknown().optional(),
  error: z.string().nullable().optional(),
});
export type ExecuteResponse = z.infer<typeof ExecuteResponseSchema>;

/**
 * The server's answer to `POST /api/services/execute {tool, args, app_id?}`:
 * `{tool, result, changes}`; a refused or failed tool is a 4xx error body instead.
 */
export const ExecuteResultSchema = z.object({
  tool: z.string(),
  result: z.unknown(),
  changes: z.array(z.object({ id: z.string(), prop: z.string(), value: z.unknown() })).optional(),
});

export const SessionSummarySchema = z.object({
  id: z.string().min(1),
  name: z.string().optional().default(""),
  created_at: z.union([z.string(), z.number()]).optional(),
  saved_unix_ms: z.number().nonnegative().optional(),
  apps: z.number().int().nonnegative().optional(),
});
export type SessionSummary = z.infer<typeof SessionSummarySchema>;
export const SessionListSchema = listOf(SessionSummarySchema, "sessions");
export const SessionSaveResponseSchema = z.object({ id: z.string().min(1) });
/** `POST /api/sessions/{id}/restore` → `{session, apps}`: every app now running (restored ones have new ids). */
export const SessionRestoreResponseSchema = AppListSchema;
/** `GET /api/sessions/{id}`: the saved apps, with the component state the desktop sent. */
export const SessionDetailSchema = z.object({
  id: z.string(),
  apps: z.array(
    z.object({
      id: z.string(),
      app_id: z.string(),
      window: ServerWindowSchema,
      state: z.record(z.string(), z.unknown()).nullable().optional(),
    }),
  ),
});
export type SessionDetail = z.infer<typeof SessionDetailSchema>;
/** `DELETE /api/apps/{id}` → the ids it closed, children first. */
export const ClosedSchema = z.object({ closed: z.array(z.string()) });

/** `POST /api/generate-ui` → the Blueprint (validated by the renderer). */
export const GenerateUiResponseSchema = z.object({
  blueprint: z.unknown(),
  app_id: z.string().optional(),
});

/** One process of an app, as the kernel reports it (`GET /api/processes`). */
/** A field the server may send as null or leave out: `undefined` either way. */
const absent = <T extends z.ZodType>(t: T) => t.nullish().transform((v) => v ?? undefined).optional();

export const ProcessInfoSchema = z.object({
  pid: z.number().int(),
  app_id: z.string().optional(),
  name: z.string().optional().default(""),
  state: z.string(),
  // The server sends null for what it cannot know (no CPU % on a first look; no
  // cgroup figures once a process has exited): read as absent.
  cpu_percent: absent(z.number().nonnegative()),
  memory_current: absent(z.number().nonnegative()),
  memory_peak: absent(z.number().nonnegative()),
  pids: absent(z.number().int().nonnegative()),
  /** CPU time AgentOS's eBPF probes spent observing it (ns), charged to it. */
  observe_cpu_ns: absent(z.number().nonnegative()),
  /** Nice value, -20 (highest) ..= 19 (lowest). */
  priority: z.number().int().optional(),
  /** Whether its cgroup is frozen (cgroup.events). */
  frozen: z.boolean().optional(),
  /** What it was launched with: capabilities, then read:/write: host paths. */
  grants: z.array(z.string()).optional(),
});
export type ProcessInfo = z.infer<typeof ProcessInfoSchema>;
export const ProcessListSchema = listOf(ProcessInfoSchema, "processes");

/** The answer of POST /api/apps/{id}/process/{kill,freeze,priority}. */
export const ProcessStatusSchema = z.object({
  pid: z.number().int(),
  state: z.string(),
  priority: z.number().int(),
  frozen: z.boolean(),
});
export type ProcessStatus = z.infer<typeof ProcessStatusSchema>;

/** Entries of the `fs.list` tool's `data`. */
export const FsEntrySchema = z.object({
  name: z.string(),
  path: z.string(),
  is_dir: z.boolean(),
  size: z.number().nonnegative().optional(),
  modified: z.union([z.string(), z.number()]).optional(),
});
export type FsEntry = z.infer<typeof FsEntrySchema>;
export const FsListSchema = listOf(FsEntrySchema, "entries");

/** GET /api/files/access: which running apps may read or write a path, and by what. */
export const PathAccessSchema = z.object({
  path: z.string(),
  apps: z.array(
    z.object({
      id: z.string(),
      app_id: z.string(),
      name: z.string(),
      read: z.boolean(),
      write: z.boolean(),
      via: z.array(z.string()),
    }),
  ),
});
export type PathAccess = z.infer<typeof PathAccessSchema>;

// ---- WebSocket /api/stream ------------------------------------------------

const withApp = { app_id: z.string().optional() };

/** Messages the server sends on /api/stream; unknown types are reported, not dropped silently. */
export const ServerMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("pong") }),
  z.object({ type: z.literal("token"), content: z.string(), ...withApp }),
  z.object({ type: z.literal("thought"), content: z.string(), ...withApp }),
  /** One Blueprint component of a streamed spec, flat: `children` are ids. */
  z.object({ type: z.literal("ui_component"), component: z.unknown(), request_id: z.string().optional(), ...withApp }),
  z.object({ type: z.literal("ui_complete"), blueprint: z.unknown().optional(), request_id: z.string().optional(), ...withApp }),
  z.object({ type: z.literal("app_event"), event: z.string(), data: z.unknown().optional(), ...withApp }),
  z.object({ type: z.literal("process_output"), app_id: z.string(), data: z.string(), stream: z.string().optional() }),
  z.object({
    type: z.literal("process_exit"),
    app_id: z.string(),
    code: z.number().int().nullable(),
    signal: z.string().nullable().optional(),
    oom_killed: z.boolean().optional(),
    description: z.string().optional(),
  }),
  z.object({
    type: z.literal("kernel_event"),
    event: z.object({
      seq: z.number(),
      timestamp_ns: z.number(),
      category: z.string(),
      severity: z.string(),
      name: z.string(),
      pid: z.number(),
      app: z.string(),
      causality: z.number(),
      value: z.number(),
      code: z.number(),
    }),
  }),
  z.object({ type: z.literal("kernel_events_lagged"), missed: z.number() }),
  z.object({ type: z.literal("denial"), app_id: z.string(), pid: z.number().optional(), access: z.string(), reason: z.string(), path: z.string().nullish(), capability: z.string().nullish(), wall: z.string().optional() }),
  z.object({ type: z.literal("error"), message: z.string(), code: z.string().optional(), ...withApp }),
]);
export type ServerMessage = z.infer<typeof ServerMessageSchema>;

/** Messages the desktop sends on /api/stream. */
export type ClientMessage =
  | { type: "ping" }
  | { type: "chat"; text: string }
  | { type: "generate_ui"; prompt: string }
  | { type: "subscribe"; app_id: string }
  | { type: "subscribe"; topic: "events"; app?: string }
  | { type: "stdin"; app_id: string; data: string }
  | { type: "close_stdin"; app_id: string }
  | { type: "resize"; app_id: string; cols: number; rows: number };

/** GET/PUT /api/settings: one user's settings, kept on the server. */
export const ServerSettingsSchema = z.object({
  appearance: z.object({
    theme: z.enum(["dark", "light"]),
    accent: z.string(),
    wallpaper: z.enum(["aurora", "dusk", "forest", "graphite"]),
  }),
  restore_on_login: z.boolean(),
  scheduler: z.object({ policy: z.enum(["fair", "priority", "round_robin"]), freeze_minimised: z.boolean(), focus_boost: z.number().int().min(1).max(16).default(4) }),
  default_grants: z.array(z.string()),
  llm: z.object({ url: z.string().nullable().optional(), model: z.string().nullable().optional() }),
});
export type ServerSettings = z.infer<typeof ServerSettingsSchema>;
