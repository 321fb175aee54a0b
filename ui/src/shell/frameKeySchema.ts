/**
 * The shape of a key a framed page forwards (`frameKeys.ts`): exactly these
 * fields, nothing more. Loaded on the first such message, so zod stays off the
 * first screen's path.
 */
import { z } from "zod";

export const FrameKeySchema = z
  .object({
    type: z.literal("agentos:key"),
    phase: z.enum(["keydown", "keyup"]),
    key: z.string().min(1).max(32),
    altKey: z.boolean(),
    ctrlKey: z.boolean(),
    metaKey: z.boolean(),
    shiftKey: z.boolean(),
  })
  .strict();
export type FrameKey = z.infer<typeof FrameKeySchema>;
