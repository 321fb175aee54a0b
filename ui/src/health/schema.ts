import { z } from "zod";

/**
 * The `GET /health` response served by the Rust services layer (`agentos`).
 *
 * Unknown extra fields are accepted and dropped, so the services layer can
 * add fields without breaking an older UI; every field listed here is
 * required.
 */
export const SubsystemReportSchema = z.object({
  /** Which backend the kernel picked, e.g. "io_uring" or "std::fs". */
  backend: z.string(),
  /** Whether the real (host) mechanism is in use. */
  available: z.boolean(),
  /** Why that backend was picked. */
  reason: z.string(),
});

export const HealthSchema = z.object({
  status: z.enum(["ok", "degraded"]),
  version: z.string(),
  kernel: z.object({
    connected: z.boolean(),
    socket: z.string(),
    uptime_ms: z.number().nonnegative(),
  }),
  /** Keyed by subsystem (io_uring, openat2, namespaces, …), in the server's order. */
  doctor: z.record(z.string(), SubsystemReportSchema),
});

export type SubsystemReport = z.infer<typeof SubsystemReportSchema>;
export type Health = z.infer<typeof HealthSchema>;

export type ParseResult =
  | { ok: true; health: Health }
  | { ok: false; error: string };

/** Validates an already-decoded JSON value; never throws. */
export function parseHealth(value: unknown): ParseResult {
  const result = HealthSchema.safeParse(value);
  if (result.success) return { ok: true, health: result.data };
  return { ok: false, error: z.prettifyError(result.error) };
}
