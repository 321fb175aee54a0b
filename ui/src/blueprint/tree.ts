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
  fallback?: RawNode;
  /** For `$error` nodes: why the node could not be read. */
  reason?: string;
}

export interface Tree {
  nodes: Record<string, FlatNode>;
  /** Ids in arrival order; roots are those no node lists as a child. */
  order: string[];
}

export const emptyTree: Tree = { nodes: {}, order: [] };

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
      const children = (node.children ?? []).map((c) => (typeof c === "string" ? c : add(c)));
      const existing = nodes[node.id];
      // A streamed component may be sent again (an update): it replaces the old one in place.
      const flat: FlatNode = {
        type: node.type,
        id: node.id,
        props: node.props ?? {},
        children,
        on_event: node.on_event ?? {},
        ...(node.fallback ? { fallback: node.fallback } : {}),
      };
      nodes[node.id] = flat;
      if (!existing) order.push(node.id);
      return node.id;
    };
    add(raw);
    return { nodes, order };
  };

export function treeFrom(components: readonly unknown[]): Tree {
  return components.reduce<Tree>((t, c) => addComponent(c)(t), emptyTree);
}

export function rootsOf(t: Tree): string[] {
  const children = new Set<string>();
  for (const n of Object.values(t.nodes)) for (const c of n.children) children.add(c);
  return t.order.filter((id) => !children.has(id));
}

/** Every component id in the tree (for `$id` references in tool params). */
export function idsOf(t: Tree): Set<string> {
  return new Set(Object.keys(t.nodes));
}
