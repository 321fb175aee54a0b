/**
 * The API's zod schemas (`schemas.ts`), loaded off the first screen's critical path.
 *
 * zod is most of a 30 KiB (gzip) chunk; imported statically it would be fetched,
 * parsed and run before the desktop's first frame. Every answer is still validated
 * by its zod schema at the boundary: the client starts loading this chunk with the
 * request it sends, so the two travel side by side and the answer waits for the
 * schemas only when they are slower than the server (a first call on a cold cache).
 * Nothing on the start-up path may import `schemas.ts` or `zod` at run time (types
 * only: `import type`); `src/test/entryGraph.test.ts` walks the entry's imports to
 * hold that.
 */
import type * as SchemaModule from "./schemas";

export type Schemas = typeof SchemaModule;

let loading: Promise<Schemas> | null = null;

/** The schemas module, loaded once; a failed load is retried on the next call. */
export function loadSchemas(): Promise<Schemas> {
  if (!loading) {
    const attempt = import("./schemas").catch((err: unknown) => {
      loading = null;
      throw err;
    });
    // A load nobody awaits yet (started beside a request) is not an unhandled rejection.
    attempt.catch(() => {});
    loading = attempt;
  }
  return loading;
}
