/**
 * A Blueprint's components as a flat table linked by ids (the form A2UI
 * streams), built from a nested spec or one streamed component at a time.
 * Pure: each change returns a new Tree. Children named before they arrive are
 * drawn as placeholders until they do.
 */
import { NodeShapeSchema, type Binding, type RawNode } from "./schema";

export interface FlatNode {
  type: string;
  id: string;
  props: Record<string, unknown>;
  children: string[];
  on_event: Record<string, Binding>;
  fallback?: RawNode | "drop";
  /** For `$error` nodes: why the node could not be read. */
  reason?: string;
}

export interface Tree {
  nodes: Record<string, FlatNode>;
  /** Ids in arrival order; roots are those no node lists as a child. */
  order: string[];
  /** Children that named a parent (`"parent": id`) before that parent arrived. */
  pending: Record<string, string[]>;
}

export const emptyTree: Tree = { nodes: {}, order: [], pending: {} };

let invalidSeq = 0;

function errorNode(reason: string): FlatNode {
  const id = `$invalid-${++invalidSeq}`;
  return { type: "$error", id, props: {}, children: [], on_event: {}, reason };
}

/** Adds one component (and its nested children), returning the new tree. */
export const addComponent =
  (raw: unknown) =>
  (t: Tree): Tree => {
    const nodes = { ...t.nodes };
    const order = [...t.order];
    const pending = { ...t.pending };
    const add = (value: unknown): string => {
      const parsed = NodeShapeSchema.safeParse(value);
      if (!parsed.success) {
        const n = errorNode(
          `Not a component: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(component)"}: ${i.message}`).join("; ")}`,
        );
        nodes[n.id] = n;
        order.push(n.id);
        return n.id;
      }
      const node = parsed.data;
      const existing = nodes[node.id];
      // An update that does not list children keeps the ones it had (e.g. linked by `parent`).
      const children = node.children ? node.children.map((c) => (typeof c === "string" ? c : add(c))) : [...(existing?.children ?? [])];
      // A streamed component may be sent again (an update): it replaces the old one in place.
      const flat: FlatNode = {
        type: node.type,
        id: node.id,
        props: node.props ?? {},
        children,
        on_event: node.on_event ?? {},
        ...(node.fallback ? { fallback: node.fallback } : {}),
      };
      // Children that arrived first and named this node as their parent.
      for (const c of pending[node.id] ?? []) if (!flat.children.includes(c)) flat.children.push(c);
      delete pending[node.id];
      nodes[node.id] = flat;
      if (!existing) order.push(node.id);
      return node.id;
    };
    const id = add(raw);
    // A streamed component may name its parent instead of the parent listing it.
    const parent = (raw as { parent?: unknown; parent_id?: unknown } | null)?.parent ?? (raw as { parent_id?: unknown } | null)?.parent_id;
    if (typeof parent === "string" && parent !== id) {
      const p = nodes[parent];
      if (p) {
        if (!p.children.includes(id)) nodes[parent] = { ...p, children: [...p.children, id] };
      } else {
        pending[parent] = [...(pending[parent] ?? []).filter((c) => c !== id), id];
      }
    }
    return { nodes, order, pending };
  };

export function treeFrom(components: readonly unknown[]): Tree {
  return components.reduce<Tree>((t, c) => addComponent(c)(t), emptyTree);
}

export function rootsOf(t: Tree): string[] {
  const children = new Set<string>();
  for (const n of Object.values(t.nodes)) for (const c of n.children) children.add(c);
  for (const list of Object.values(t.pending)) for (const c of list) children.add(c);
  return t.order.filter((id) => !children.has(id));
}

/** Every component id in the tree (for `$id` references in tool params). */
export function idsOf(t: Tree): Set<string> {
  return new Set(Object.keys(t.nodes));
}
