import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { getValue } from "../apps/appState";
import type { AppContext } from "../apps/context";
import { openById } from "../apps/launch";
import type { Proc } from "../apps/processes";
import { executeTool } from "../tools/executor";
import { setWindowTitle } from "../wm/functions";
import { useWm } from "../wm/store";
import { useGenerations } from "./generate";
import { BlueprintView, ErrorBox, type RenderContext } from "./Renderer";
import { BlueprintSchema, type Binding } from "./schema";
import { treeFrom, type FlatNode, type Tree } from "./tree";

/**
 * Resolves `$id` references in a binding's params against the window's
 * component state: a string that is exactly `$id` becomes that value; `$id`
 * inside a longer string is replaced by its text. Only ids of components in
 * the tree are replaced, so a literal "$5" stays as written.
 */
export function resolveParams(params: Record<string, unknown>, known: Set<string>, valueOf: (id: string) => unknown): Record<string, unknown> {
  const resolve = (v: unknown): unknown => {
    if (typeof v === "string") {
      const whole = /^\$([\w-]+)$/.exec(v);
      if (whole && known.has(whole[1]!)) return valueOf(whole[1]!) ?? "";
      return v.replace(/\$([\w-]+)/g, (m, id: string) => (known.has(id) ? String(valueOf(id) ?? "") : m));
    }
    if (Array.isArray(v)) return v.map(resolve);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
    return v;
  };
  return resolve(params) as Record<string, unknown>;
}

/**
 * What a binding runs: its tool and params. A bare tool id acts on the
 * component itself with the event's value (`{target: id, value}`); a
 * `{tool, params}` binding sends exactly its params, where `"$event"` is the
 * event's value.
 */
export function bindingCall(binding: Binding, node: FlatNode, value: unknown): { tool: string; params: Record<string, unknown> } {
  if (typeof binding === "string") return { tool: binding, params: { target: node.id, ...(value !== undefined ? { value } : {}) } };
  const params = Object.fromEntries(Object.entries(binding.params ?? {}).map(([k, v]) => [k, v === "$event" ? value : v]));
  return { tool: binding.tool, params };
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
      const call = bindingCall(binding, node, value);
      const known = new Set(Object.keys(tree.nodes));
      const params = resolveParams(call.params, known, (id) => {
        const v = getValue(ctx.windowId, id);
        if (v !== undefined) return v;
        const props = tree.nodes[id]?.props ?? {};
        return props.value ?? props.content ?? props.items ?? props.checked;
      });
      executeTool(call.tool, params, { windowId: ctx.windowId, serverId: proc.serverId }).then(
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
