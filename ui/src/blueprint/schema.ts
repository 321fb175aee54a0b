/**
 * Blueprint components: one strict zod schema per component type, which is
 * that component's props (A2UI's basic_components.ts). Shared props (style,
 * accessibility, weight) are spread into every schema. Unknown props are an
 * error, so a typo in a spec shows up instead of being ignored.
 */
import { z } from "zod";

const styleValue = z.union([z.string(), z.number()]);

export const common = {
  /** Inline CSS, camelCase keys (React style). */
  style: z.record(z.string(), styleValue).optional(),
  accessibility: z
    .object({
      label: z.string().optional(),
      description: z.string().optional(),
      /** Announce changes (aria-live="polite"). */
      live: z.boolean().optional(),
    })
    .strict()
    .optional(),
  /** Flex grow inside a container. */
  weight: z.number().nonnegative().optional(),
  /** The services' names (apps/blueprint/schema.json): an accessible name, and shown or not. */
  aria_label: z.string().optional(),
  visible: z.boolean().optional(),
};

/** The services' `Align` (apps/blueprint/schema.json), beside the desktop's first words. */
const align = z.enum(["start", "center", "end", "stretch", "space_between", "left", "right", "between", "around"]);
const direction = z.enum(["row", "column"]);

const size = z.union([z.enum(["none", "small", "medium", "large"]), z.number().nonnegative()]);
const option = z.union([z.string(), z.number(), z.object({ value: z.union([z.string(), z.number()]), label: z.string() }).strict()]);
/** A URL the page may load: http(s), same-origin paths, or inline images. */
const safeUrl = z.string().refine((u) => /^(https?:\/\/|\/(?!\/)|\.\/|data:image\/(png|gif|jpeg|webp);)/i.test(u), {
  message: "must be an http(s) URL, a path on this site, or a data:image URL",
});

export const componentSchemas = {
  button: z
    .object({
      ...common,
      text: z.string(),
      variant: z.enum(["default", "primary", "secondary", "danger", "ghost"]).optional(),
      size: z.enum(["small", "medium", "large"]).optional(),
      disabled: z.boolean().optional(),
      fullWidth: z.boolean().optional(),
      icon: z.string().optional(),
    })
    .strict(),
  input: z
    .object({
      ...common,
      label: z.string().optional(),
      placeholder: z.string().optional(),
      value: z.union([z.string(), z.number()]).optional(),
      type: z.enum(["text", "number", "email", "password", "search", "url", "tel"]).optional(),
      input_type: z.enum(["text", "number", "email", "password", "search"]).optional(),
      disabled: z.boolean().optional(),
      readonly: z.boolean().optional(),
      maxLength: z.number().int().positive().optional(),
      max_length: z.number().int().positive().optional(),
    })
    .strict(),
  text: z
    .object({
      ...common,
      /** `text` is the services' name, `content` the seed's. */
      text: z.union([z.string(), z.number()]).optional(),
      content: z.union([z.string(), z.number()]).optional(),
      variant: z.enum(["body", "caption", "label", "title", "h1", "h2", "h3", "display", "code"]).optional(),
      align: align.optional(),
      color: z.enum(["default", "muted", "accent", "success", "warning", "danger"]).optional(),
    })
    .strict(),
  checkbox: z.object({ ...common, label: z.string().optional(), checked: z.boolean().optional(), disabled: z.boolean().optional() }).strict(),
  /** A group with `options`, or (the services' form) one option of `group` with its `value`. */
  radio: z
    .object({
      ...common,
      label: z.string().optional(),
      options: z.array(option).min(1).optional(),
      value: z.union([z.string(), z.number()]).optional(),
      group: z.string().min(1).optional(),
      checked: z.boolean().optional(),
      disabled: z.boolean().optional(),
    })
    .strict()
    .refine((p) => (p.options ? !p.group : !!p.group && p.value !== undefined && !!p.label), {
      message: 'needs "options", or "group", "value" and "label" (one radio of a group)',
    }),
  slider: z
    .object({ ...common, label: z.string().optional(), min: z.number().default(0), max: z.number().default(100), step: z.number().positive().optional(), value: z.number().optional(), disabled: z.boolean().optional() })
    .strict()
    .refine((p) => p.max > p.min, { message: "max must be greater than min" }),
  container: z
    .object({
      ...common,
      layout: z.enum(["vertical", "horizontal"]).optional(),
      direction: direction.optional(),
      gap: size.optional(),
      spacing: size.optional(),
      padding: size.optional(),
      align: align.optional(),
      justify: align.optional(),
      wrap: z.boolean().optional(),
    })
    .strict(),
  grid: z.object({ ...common, columns: z.number().int().min(1).max(12).default(2), gap: size.optional(), padding: size.optional() }).strict(),
  list: z
    .object({
      ...common,
      label: z.string().optional(),
      items: z.array(z.union([z.string(), z.number(), z.object({ id: z.union([z.string(), z.number()]).optional(), text: z.string() }).strict()])).optional(),
      /** Height of the scrolling viewport, px (the list is virtualised past 100 items). */
      height: z.number().positive().optional(),
      item_height: z.number().positive().optional(),
      removable: z.boolean().optional(),
      checkable: z.boolean().optional(),
      ordered: z.boolean().optional(),
      empty_text: z.string().optional(),
      variant: z.enum(["default", "bordered", "compact"]).optional(),
      spacing: size.optional(),
    })
    .strict(),
  select: z
    .object({ ...common, label: z.string().optional(), options: z.array(option), value: z.union([z.string(), z.number()]).optional(), placeholder: z.string().optional(), disabled: z.boolean().optional() })
    .strict(),
  textarea: z
    .object({
      ...common,
      label: z.string().optional(),
      placeholder: z.string().optional(),
      value: z.string().optional(),
      rows: z.number().int().positive().max(200).optional(),
      resize: z.enum(["none", "vertical", "horizontal", "both"]).optional(),
      disabled: z.boolean().optional(),
      readonly: z.boolean().optional(),
    })
    .strict(),
  image: z
    .object({ ...common, src: safeUrl, alt: z.string(), width: z.union([z.number(), z.string()]).optional(), height: z.union([z.number(), z.string()]).optional(), fit: z.enum(["contain", "cover", "fill", "none"]).optional() })
    .strict(),
  video: z
    .object({
      ...common,
      src: safeUrl,
      label: z.string().optional(),
      poster: safeUrl.optional(),
      controls: z.boolean().default(true),
      autoplay: z.boolean().optional(),
      loop: z.boolean().optional(),
      muted: z.boolean().optional(),
      width: z.union([z.number(), z.string()]).optional(),
      height: z.union([z.number(), z.string()]).optional(),
    })
    .strict(),
  audio: z.object({ ...common, src: safeUrl, label: z.string().optional(), controls: z.boolean().default(true), autoplay: z.boolean().optional(), loop: z.boolean().optional() }).strict(),
  canvas: z
    .object({
      ...common,
      width: z.number().int().positive().max(4096),
      height: z.number().int().positive().max(4096),
      label: z.string().optional(),
      /** Drawn as a line chart, scaled to fit. */
      points: z.array(z.number()).optional(),
      color: z.string().optional(),
      background: z.string().optional(),
    })
    .strict()
    .refine((p) => !!(p.label ?? p.aria_label ?? p.accessibility?.label), { message: 'needs "label" or "aria_label" (a canvas is an image to assistive tech)', path: ["label"] }),
  badge: z
    .object({
      ...common,
      text: z.union([z.string(), z.number()]),
      variant: z.enum(["default", "success", "warning", "danger", "info"]).optional(),
      tone: z.enum(["neutral", "info", "success", "warning", "error"]).optional(),
    })
    .strict(),
  card: z
    .object({ ...common, title: z.string().optional(), subtitle: z.string().optional(), footer: z.string().optional(), padding: size.optional(), elevation: z.number().int().nonnegative().optional() })
    .strict(),
  divider: z.object({ ...common, orientation: z.enum(["horizontal", "vertical"]).optional(), direction: direction.optional() }).strict(),
  modal: z.object({ ...common, title: z.string(), open: z.boolean().optional(), dismissible: z.boolean().default(true) }).strict(),
  /** Tabs as `tabs: [{id, label}]`, or (the services' form) `labels` with the `active` index; the children are the panels. */
  tabs: z
    .object({
      ...common,
      tabs: z.array(z.object({ id: z.string(), label: z.string() }).strict()).min(1).optional(),
      value: z.string().optional(),
      labels: z.array(z.string()).min(1).optional(),
      active: z.number().int().nonnegative().optional(),
    })
    .strict()
    .refine((p) => !!p.tabs !== !!p.labels, { message: 'needs "labels" (or "tabs"), not both' }),
  app_shortcut: z
    .object({ ...common, app_id: z.string().min(1), label: z.string().optional(), icon: z.string().optional(), description: z.string().optional() })
    .strict(),
  iframe: z
    .object({
      ...common,
      src: z.string().refine((u) => /^https?:\/\//i.test(u), { message: "must be an http(s) URL" }),
      title: z.string(),
      width: z.union([z.number(), z.string()]).optional(),
      height: z.union([z.number(), z.string()]).optional(),
    })
    .strict(),
  progress: z
    .object({
      ...common,
      value: z.number().min(0).default(0),
      max: z.number().positive().default(100),
      label: z.string().optional(),
      variant: z.enum(["default", "success", "warning", "danger"]).optional(),
      indeterminate: z.boolean().optional(),
      /** While true the page adds `step` every `interval_ms`, firing `tick`; at max, `complete`. */
      running: z.boolean().optional(),
      interval_ms: z.number().int().min(50).optional(),
      step: z.number().positive().optional(),
    })
    .strict(),
} as const;

export type ComponentType = keyof typeof componentSchemas;
export const COMPONENT_TYPES = Object.keys(componentSchemas) as ComponentType[];
export type PropsOf<T extends ComponentType> = z.output<(typeof componentSchemas)[T]>;

/**
 * An event binding, as the services define it (apps/blueprint/README.md): a
 * tool id, a `{tool, args}` call, or a list of them run in order. `params` is
 * read as `args` too. In arguments, `{{id}}` is component `id`'s value and
 * `{{result}}` the previous call's result (`$id` also works).
 */
export const ToolCallSchema = z.union([
  z.string().min(1),
  z.object({ tool: z.string().min(1), args: z.record(z.string(), z.unknown()).optional(), params: z.record(z.string(), z.unknown()).optional() }).strict(),
]);
export const BindingSchema = z.union([ToolCallSchema, z.array(ToolCallSchema).min(1)]);
export type ToolCall = z.infer<typeof ToolCallSchema>;
export type Binding = z.infer<typeof BindingSchema>;

/**
 * One component node as the server sends it. `children` are nested nodes, or
 * ids (a flat, streamed spec); props are checked per type at render time, so
 * one bad component shows an error box and the rest of the app still renders.
 */
export interface RawNode {
  type: string;
  id: string;
  props?: Record<string, unknown>;
  children?: (RawNode | string)[];
  on_event?: Record<string, Binding>;
  /** Shown when this one cannot be: another component, or "drop" to leave it out. */
  fallback?: RawNode | "drop";
}

export const NodeShapeSchema: z.ZodType<RawNode> = z.lazy(() =>
  z.object({
    type: z.string().min(1),
    id: z.string().min(1),
    props: z.record(z.string(), z.unknown()).optional(),
    children: z.array(z.union([z.string(), NodeShapeSchema])).optional(),
    on_event: z.record(z.string(), BindingSchema).optional(),
    fallback: z.union([z.literal("drop"), NodeShapeSchema]).optional(),
  }),
) as z.ZodType<RawNode>;

export const BlueprintSchema = z.object({
  app: z
    .object({
      id: z.string(),
      name: z.string(),
      icon: z.string().optional(),
      category: z.string().optional(),
      version: z.string().optional(),
      permissions: z.array(z.string()).optional(),
    })
    .optional(),
  services: z.array(z.unknown()).optional(),
  ui: z.object({
    title: z.string().optional(),
    layout: z.enum(["vertical", "horizontal", "grid"]).optional(),
    width: z.number().optional(),
    height: z.number().optional(),
    /** `on_mount`: a binding run once when the app's window opens (the seed's notes list its notes so). */
    lifecycle: z.object({ on_mount: BindingSchema.optional() }).optional(),
    components: z.array(z.unknown()),
  }),
});
export type Blueprint = z.infer<typeof BlueprintSchema>;

export type Checked = { ok: true; type: ComponentType; props: Record<string, unknown> } | { ok: false; reason: string };

/** Validates one component's type and props; the reason names the prop and the problem. */
export function checkComponent(type: string, props: unknown): Checked {
  if (!(type in componentSchemas)) return { ok: false, reason: `Unknown component type "${type}"` };
  const schema = componentSchemas[type as ComponentType] as z.ZodType;
  // The services write an absent optional prop as null; read it as absent.
  const cleaned = props && typeof props === "object" && !Array.isArray(props) ? Object.fromEntries(Object.entries(props).filter(([, v]) => v !== null)) : props;
  const parsed = schema.safeParse(cleaned ?? {});
  if (parsed.success) return { ok: true, type: type as ComponentType, props: parsed.data as Record<string, unknown> };
  const reason = parsed.error.issues
    .map((i) => {
      const path = i.path.join(".");
      if (i.code === "unrecognized_keys") return `unknown prop${i.keys.length > 1 ? "s" : ""} ${i.keys.map((k) => `"${k}"`).join(", ")}`;
      return `${path ? `"${path}": ` : ""}${i.message}`;
    })
    .join("; ");
  return { ok: false, reason: `Invalid ${type} props: ${reason}` };
}
