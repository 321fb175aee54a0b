/**
 * "A pomodoro timer": the launcher's sentence goes to the generator over the
 * stream (`generate_ui`); its `ui_component` messages build the app in a new
 * window as they arrive, and `ui_complete` gives the final, validated spec.
 * Without a stream, POST /api/generate-ui answers the whole spec at once.
 */
import { create } from "zustand";
import { api } from "../api/client";
import { stream } from "../api/stream";
import { addProc, patchProc } from "../apps/processes";
import { notify } from "../shell/store";
import { openWindow } from "../wm/functions";
import { useWm, viewport } from "../wm/store";
import { addComponent, emptyTree, type Tree } from "./tree";

export interface Generation {
  tree: Tree;
  thoughts: string[];
  done: boolean;
  error: string;
}

export const useGenerations = create<{ byRequest: Record<string, Generation> }>()(() => ({ byRequest: {} }));

const update = (rid: string, f: (g: Generation) => Generation) =>
  useGenerations.setState((s) => {
    const g = s.byRequest[rid] ?? { tree: emptyTree, thoughts: [], done: false, error: "" };
    return { byRequest: { ...s.byRequest, [rid]: f(g) } };
  });

let seq = 0;

export async function generateApp(description: string): Promise<string> {
  const rid = `gen-${Date.now().toString(36)}-${++seq}`;
  const windowId = rid;
  update(rid, (g) => g);
  addProc({ windowId, appId: "generated", kind: "generated", serverId: null, requestId: rid });
  useWm.getState().apply(openWindow({ id: windowId, appId: "generated", title: description, icon: "sparkles", size: { width: 420, height: 520 }, fixedSize: true, viewport: viewport() }));

  const s = stream();
  const unsubscribe = s.subscribe((msg) => {
    if (msg.type === "ui_component" && (!msg.request_id || msg.request_id === rid)) update(rid, (g) => ({ ...g, tree: addComponent(msg.component)(g.tree) }));
    else if (msg.type === "thought" || msg.type === "token") update(rid, (g) => ({ ...g, thoughts: [...g.thoughts.slice(-20), msg.content] }));
    else if (msg.type === "ui_complete" && (!msg.request_id || msg.request_id === rid)) {
      update(rid, (g) => ({ ...g, done: true }));
      if (msg.blueprint) patchProc(windowId, { blueprint: msg.blueprint, ...(msg.app_id ? { serverId: msg.app_id } : {}) });
      unsubscribe();
    } else if (msg.type === "error" && (!msg.app_id || msg.app_id === rid)) {
      update(rid, (g) => ({ ...g, error: msg.message }));
    }
  });
  // The server does not take a request id; messages without one belong to the latest request.
  s.send({ type: "generate_ui", prompt: description });

  // If nothing streams in within 4 s, ask over HTTP instead.
  setTimeout(async () => {
    const g = useGenerations.getState().byRequest[rid];
    if (!g || g.done || g.tree.order.length > 0) return;
    try {
      const res = await api.generateUi(description);
      unsubscribe();
      update(rid, (x) => ({ ...x, done: true }));
      patchProc(windowId, { blueprint: res.blueprint, ...(res.app_id ? { serverId: res.app_id } : {}) });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      update(rid, (x) => ({ ...x, error: message }));
      notify("error", `Generating “${description}” failed: ${message}`);
    }
  }, 4000);
  return windowId;
}
