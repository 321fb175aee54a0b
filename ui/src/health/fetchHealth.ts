import type { Health } from "./schema";

export const HEALTH_URL = "/health";
export const HEALTH_TIMEOUT_MS = 4_000;

export class HealthError extends Error {
  override name = "HealthError";
}

/**
 * Fetches and validates `GET /health`. Resolves with the parsed report or
 * rejects with a HealthError whose message is fit to show a person.
 *
 * A non-2xx answer whose body is still a valid report (a server that says
 * 503 while degraded) is accepted: the body is what matters.
 *
 * The report's zod schema loads beside the request, off the first screen's
 * critical path (see `api/lazySchemas.ts`).
 */
export async function fetchHealth(
  fetchImpl: typeof fetch = fetch,
  timeoutMs: number = HEALTH_TIMEOUT_MS,
): Promise<Health> {
  const schema = import("./schema");
  schema.catch(() => {});
  let response: Response;
  try {
    response = await fetchImpl(HEALTH_URL, {
      headers: { Accept: "application/json" },
      cache: "no-store",
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === "TimeoutError") {
      throw new HealthError(`GET ${HEALTH_URL} timed out after ${timeoutMs} ms`);
    }
    throw new HealthError(`GET ${HEALTH_URL} failed: ${describe(err)}`);
  }

  const httpStatus = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
  let body: unknown;
  try {
    body = await response.json();
  } catch (err) {
    throw new HealthError(
      response.ok
        ? `GET ${HEALTH_URL}: response is not JSON (${describe(err)})`
        : `GET ${HEALTH_URL}: ${httpStatus}`,
    );
  }

  let parseHealth: typeof import("./schema").parseHealth;
  try {
    ({ parseHealth } = await schema);
  } catch (err) {
    throw new HealthError(`GET ${HEALTH_URL}: the desktop's schema did not load: ${describe(err)}`);
  }
  const parsed = parseHealth(body);
  if (parsed.ok) return parsed.health;
  throw new HealthError(
    response.ok
      ? `GET ${HEALTH_URL}: malformed response\n${parsed.error}`
      : `GET ${HEALTH_URL}: ${httpStatus}`,
  );
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
