import { Component, createContext, useContext, useMemo, type ReactNode } from "react";
import { useAppState } from "../apps/appState";
import { disabledKey, hiddenKey } from "../tools/executor";
import { renderers } from "./components";
import { checkComponent, type RawNode } from "./schema";
import { addComponent, emptyTree, rootsOf, type FlatNode, type Tree } from "./tree";
import "./blueprint.css";

export interface RenderContext {
  windowId: string;
  tree: Tree;
  /** Runs the binding of `event` on `node`, if it has one. */
  fire: (node: FlatNode, event: string, value?: unknown) => void;
  /** Opens another app (app_shortcut). */
  openApp: (appId: string, name: string) => void;
}

export const RenderCtx = createContext<RenderContext | null>(null);
export function useRender(): RenderContext {
  const ctx = useContext(RenderCtx);
  if (!ctx) throw new Error("Blueprint components render inside <BlueprintView>");
  return ctx;
}

/** A component's value in the window's component state, falling back to its prop. */
export function useValue<T>(id: string, initial: T): T {
  const { windowId } = useRender();
  const v = useAppState((s) => s.byWindow[windowId]?.[id]);
  return (v === undefined ? initial : v) as T;
}

export function useFlag(key: string): boolean {
  const { windowId } = useRender();
  return useAppState((s) => s.byWindow[windowId]?.[key] === true);
}

/** The visible failure: what failed and why, in place of the component. */
export function ErrorBox({ title, reason, id }: { title: string; reason: string; id?: string }) {
  return (
    <div className="bp-error" role="alert" data-component-id={id}>
      <strong>{title}</strong>
      <span>{reason}</span>
    </div>
  );
}

/** A child named by the spec that has not arrived yet. */
function Placeholder({ id }: { id: string }) {
  return <div className="bp-placeholder" role="status" aria-label={`Loading ${id}`} data-placeholder={id} />;
}

class NodeBoundary extends Component<{ id: string; type: string; children: ReactNode }, { error: string | null }> {
  override state = { error: null as string | null };
  static getDerivedStateFromError(e: Error) {
    return { error: e.message };
  }
  override render() {
    if (this.state.error) return <ErrorBox id={this.props.id} title={`${this.props.type} “${this.props.id}” failed to render`} reason={this.state.error} />;
    return this.props.children;
  }
}

/** Renders one node by id: placeholder, error box, fallback, or the component. */
export function Node({ id }: { id: string }) {
  const { tree } = useRender();
  const node = tree.nodes[id];
  const { windowId } = useRender();
  const hiddenState = useAppState((s) => s.byWindow[windowId]?.[hiddenKey(id)]);
  const disabledState = useAppState((s) => s.byWindow[windowId]?.[disabledKey(id)]);
  if (!node) return <Placeholder id={id} />;
  // ui.hide/ui.show win over the spec's `visible`.
  if (hiddenState === true || (hiddenState === undefined && node.props.visible === false)) return null;
  if (node.type === "$error") return <ErrorBox title="Invalid component" reason={node.reason ?? "unreadable"} />;
  const checked = checkComponent(node.type, node.props);
  if (!checked.ok) {
    if (node.fallback === "drop") return null;
    if (node.fallback) return <FallbackNode raw={node.fallback} reason={checked.reason} />;
    return <ErrorBox id={node.id} title={`Cannot show “${node.id}”`} reason={checked.reason} />;
  }
  const Render = renderers[checked.type];
  // ui.enable/ui.disable win over the spec's `disabled`, as ui.show/ui.hide do over `visible`.
  const props = typeof disabledState === "boolean" ? { ...checked.props, disabled: disabledState } : checked.props;
  return (
    <NodeBoundary id={node.id} type={node.type}>
      <Render node={node} props={props as never} />
    </NodeBoundary>
  );
}

/** A component's declared `fallback`, rendered in its own small tree (Adaptive Cards' fallback). */
function FallbackNode({ raw, reason }: { raw: RawNode; reason: string }) {
  const ctx = useRender();
  const sub = useMemo(() => {
    const t = addComponent(raw)(emptyTree);
    return { ...ctx, tree: { nodes: { ...ctx.tree.nodes, ...t.nodes }, order: ctx.tree.order, pending: ctx.tree.pending } };
  }, [raw, ctx]);
  const rootId = typeof raw === "object" && raw && "id" in raw ? String(raw.id) : "";
  return (
    <div className="bp-fallback" title={reason}>
      <RenderCtx.Provider value={sub}>
        <Node id={rootId} />
      </RenderCtx.Provider>
    </div>
  );
}

export function Children({ node }: { node: FlatNode }) {
  return (
    <>
      {node.children.map((c) => (
        <Node key={c} id={c} />
      ))}
    </>
  );
}

/** Renders a tree's roots, in arrival order. */
export function BlueprintView({ ctx, layout }: { ctx: RenderContext; layout?: "vertical" | "horizontal" | "grid" | undefined }) {
  const roots = rootsOf(ctx.tree);
  return (
    <RenderCtx.Provider value={ctx}>
      <div className={`bp-root bp-${layout ?? "vertical"}`}>
        {roots.map((id) => (
          <Node key={id} id={id} />
        ))}
      </div>
    </RenderCtx.Provider>
  );
}
