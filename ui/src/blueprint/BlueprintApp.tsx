import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { getValue } from "../apps/appState";
import type { AppContext } from "../apps/context";
import { openById } from "../apps/launch";
import type { Proc } from "../apps/processes";
import { executeTool } from "../tools/executor";
import { formatNumber } from "../tools/math";
import { setWindowTitle } from "../wm/functions";
import { useWm } from "../wm/store";
import { useGenerations } from "./generate";
import { BlueprintView, ErrorBox, type RenderContext } from "./Renderer";
import { BlueprintSchema, type Binding } from "./schema";
import { treeFrom, type FlatNode, type Tree } from "./tree";

/**
 * Fills a call's arguments: `{{id}}` is component `id`'s value and
 * `{{result}}` the previous call's result (the services' syntax); `$id` works
 * too. A string that is exactly one reference becomes the value itself (a
 * list stays a list); inside a longer string, its text. Only ids of
 * components in the tree (and `result`) are replaced, so "$5" stays.
 */
export function resolveParams(params: Record<string, unknown>, known: Set<string>, valueOf: (id: string) => unknown, result?: unknown): Record<string, unknown> {
  const lookup = (id: string): { ok: boolean; v?: unknown } =>
    id === "result" && result !== undefined ? { ok: true, v: result } : known.has(id) ? { ok: true, v: valueOf(id) ?? "" } : { ok: false };
  const text = (v: unknown) => (typeof v === "number" ? formatNumber(v) : typeof v === "string" ? v : JSON.stringify(v));
  const resolve = (v: unknown): unknown => {
    if (typeof v === "string") {
      const whole = /^(?:\{\{\s*([\w.-]+)\s*\}\}|\$([\w-]+))$/.exec(v);
      if (whole) {
        const r = lookup((whole[1] ?? whole[2])!);
        if (r.ok) return typeof r.v === "number" && whole[1] === "result" ? formatNumber(r.v) : r.v;
      }
      return v
        .replace(/\{\{\s*([\w.-]+)\s*\}\}/g, (m, id: string) => {
          const r = lookup(id);
          return r.ok ? text(r.v) : m;
        })
        .replace(/\$([\w-]+)/g, (m, id: string) => (known.has(id) ? text(valueOf(id) ?? "") : m));
    }
    if (Array.isArray(v)) return v.map(resolve);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
    return v;
  };
  return resolve(params) as Record<string, unknown>;
}

/**
 * The calls a binding runs, in order. A bare tool id acts on the component
 * itself with the event's value (`{id, value}`); a `{tool, args}` call sends
 * exactly its args, where `"$event"` is the event's value.
 */
export function bindingCalls(binding: Binding, node: FlatNode, value: unknown): { tool: string; params: Record<string, unknown> }[] {
  const list = Array.isArray(binding) ? binding : [binding];
  return list.map((call) => {
    if (typeof call === "string") return { tool: call, params: { id: node.id, ...(value !== undefined ? { value } : {}) } };
    const args = call.args ?? call.params ?? {};
    return { tool: call.tool, params: Object.fromEntries(Object.entries(args).map(([k, v]) => [k, v === "$event" ? value : v])) };
  });
}

/** A Blueprint app in its window: the spec validated, rendered, and its events bound to tools. */
export default function BlueprintApp({ ctx, proc }: { ctx: AppContext; proc: Proc }) {
  const generation = useGenerations((s) => (proc.requestId ? s.byRequest[proc.requestId] : undefined));
  const [toolError, setToolError] = useState<string | null>(null);

  const parsed = useMemo(() => {
    if (proc.blueprint === undefined) return null;
    const r = BlueprintSchema.safeParse(proc.blueprint);
    if (!r.success) return { error: r.error.issues.map((i) => `${i.path.join(".") || "(spec)"}: ${i.message}`).join("; ") } as const;
    return { blueprint: r.data, tree: treeFrom(r.data.ui.components) } as const;
  }, [proc.blueprint]);

  const tree: Tree | null = parsed && "tree" in parsed ? parsed.tree! : (generation?.tree ?? null);

  const fire = useCallback(
    (node: FlatNode, event: string, value?: unknown) => {
      const binding = node.on_event[event];
      if (!binding || !tree) return;
      const calls = bindingCalls(binding, node, value);
      const known = new Set(Object.keys(tree.nodes));
      const valueOf = (id: string) => {
        const v = getValue(ctx.windowId, id);
        if (v !== undefined) return v;
        const props = tree.nodes[id]?.props ?? {};
        return props.value ?? props.text ?? props.content ?? props.items ?? props.checked;
      };
      const scope = { windowId: ctx.windowId, serverId: proc.serverId };
      // In order; a failed call stops the rest and says why.
      (async () => {
        let result: unknown = undefined;
        for (const call of calls) result = await executeTool(call.tool, resolveParams(call.params, known, valueOf, result), scope);
      })().then(
        () => setToolError(null),
        (err: unknown) => setToolError(err instanceof Error ? err.message : String(err)),
      );
    },
    [tree, ctx.windowId, proc.serverId],
  );

  // lifecycle.on_mount runs once per window, as if a root component fired "mount".
  const onMount = parsed && "blueprint" in parsed ? parsed.blueprint!.ui.lifecycle?.on_mount : undefined;
  const mounted = useRef(false);
  useEffect(() => {
    if (!onMount || mounted.current || !tree) return;
    mounted.current = true;
    fire({ type: "$app", id: "$app", props: {}, children: [], on_event: { mount: onMount } }, "mount");
  }, [onMount, tree, fire]);

  const renderCtx = useMemo<RenderContext | null>(
    () => (tree ? { windowId: ctx.windowId, tree, fire, openApp: (id, name) => void openById(id, name) } : null),
    [tree, ctx.windowId, fire],
  );

  // A generated app takes its final name as its window title.
  const title = parsed && "blueprint" in parsed ? (parsed.blueprint!.ui.title ?? parsed.blueprint!.app?.name) : undefined;
  useEffect(() => {
    if (title && proc.kind === "generated") useWm.getState().apply(setWindowTitle(ctx.windowId, title));
  }, [title, proc.kind, ctx.windowId]);

  if (parsed && "error" in parsed) return <ErrorBox title="This app’s Blueprint is invalid" reason={parsed.error!} />;
  if (!renderCtx) {
    if (generation?.error) return <ErrorBox title="Generation failed" reason={generation.error} />;
    if (proc.kind === "generated") {
      return (
        <div className="bp-generating" role="status">
          <span className="bp-spinner" aria-hidden="true" />
          {generation?.thoughts.at(-1) ?? "Asking the generator…"}
        </div>
      );
    }
    return <ErrorBox title="Nothing to show" reason="The server sent this app without a Blueprint." />;
  }
  return (
    <div className="bp-app">
      {toolError && (
        <div className="bp-tool-error" role="alert">
          <span>{toolError}</span>
          <button type="button" aria-label="Dismiss error" onClick={() => setToolError(null)}>
            ×
          </button>
        </div>
      )}
      {generation && !generation.done && (
        <p className="bp-streaming" role="status">
          <span className="bp-spinner" aria-hidden="true" /> Building… {generation.tree.order.length} component{generation.tree.order.length === 1 ? "" : "s"}
        </p>
      )}
      <BlueprintView ctx={renderCtx} layout={parsed && "blueprint" in parsed ? parsed.blueprint!.ui.layout : "vertical"} />
    </div>
  );
}
