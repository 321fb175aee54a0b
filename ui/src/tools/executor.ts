/**
 * Runs the tools that Blueprint events and native apps bind to.
 *
 * `ui.*` and `math.*` run here in the page (microseconds, no round trip);
 * every other tool id goes to `POST /api/services/execute`, which checks it
 * against the app's permissions. A failed tool throws ToolError with a
 * readable message; callers show it.
 */
import { api } from "../api/client";
import { applyAppState, getValue, setValues } from "../apps/appState";
import { evaluate, formatNumber, MathError } from "./math";

export class ToolError extends Error {
  readonly toolId: string;
  constructor(toolId: string, message: string) {
    super(message);
    this.name = "ToolError";
    this.toolId = toolId;
  }
}

export interface ToolScope {
  windowId: string;
  /** App instance id for the server, when it knows the app. */
  serverId: string | null;
}

export type Params = Record<string, unknown>;

/** State keys for visibility and enabled-ness of component `id`. */
export const hiddenKey = (id: string) => `$hidden.${id}`;
export const disabledKey = (id: string) => `$disabled.${id}`;

function target(toolId: string, p: Params): string {
  // `id` is the services' name (apps/blueprint/README.md), `target` the desktop's first one.
  const t = p.id ?? p.target ?? p.key;
  if (typeof t !== "string" || !t) throw new ToolError(toolId, `${toolId} needs a "target" component id`);
  return t;
}

function num(toolId: string, p: Params, k: string): number {
  const v = p[k];
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) throw new ToolError(toolId, `${toolId}: "${k}" is not a number`);
  return n;
}

function list(toolId: string, p: Params): number[] {
  const v = p.values ?? p.numbers;
  const arr = typeof v === "string" ? v.split(/[\s,]+/).filter(Boolean).map(Number) : v;
  if (!Array.isArray(arr) || arr.length === 0 || arr.some((x) => typeof x !== "number" || !Number.isFinite(x))) {
    throw new ToolError(toolId, `${toolId}: "values" must be a non-empty list of numbers`);
  }
  return arr as number[];
}

/** Seconds as MM:SS, or H:MM:SS from an hour (negative counts as zero). */
export function formatDuration(toolId: string, v: unknown): string {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) throw new ToolError(toolId, `${toolId}: a duration needs a number of seconds, got ${JSON.stringify(v)}`);
  const total = Math.max(0, Math.round(n));
  const [h, m, s] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  const two = (x: number) => String(x).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${two(m)}:${two(s)}`;
}

function uiTool(toolId: string, p: Params, scope: ToolScope): unknown {
  const w = scope.windowId;
  const set = (key: string, value: unknown) => applyAppState(setValues(w, { [key]: value }));
  const op = toolId.slice(3);
  switch (op) {
    case "set": {
      // `prop` (the services' args) names which prop: the value by default, else the
      // state key `$prop.id` that the component reads over its spec's prop.
      const t = target(toolId, p);
      const prop = typeof p.prop === "string" && p.prop && p.prop !== "value" && p.prop !== "text" ? p.prop : null;
      const value = p.format === "duration" ? formatDuration(toolId, p.value) : (p.value ?? "");
      set(prop ? `$${prop}.${t}` : t, value);
      return value;
    }
    case "get":
      return getValue(w, target(toolId, p));
    case "append": {
      const t = target(toolId, p);
      const next = String(getValue(w, t) ?? "") + String(p.text ?? p.value ?? "");
      set(t, next);
      return next;
    }
    case "backspace": {
      const t = target(toolId, p);
      const next = String(getValue(w, t) ?? "").slice(0, -1);
      set(t, next);
      return next;
    }
    case "clear": {
      const t = target(toolId, p);
      set(t, Array.isArray(getValue(w, t)) ? [] : "");
      return null;
    }
    case "toggle": {
      const t = target(toolId, p);
      const next = !getValue(w, t);
      set(t, next);
      return next;
    }
    case "show":
    case "hide":
      set(hiddenKey(target(toolId, p)), op === "hide");
      return null;
    case "enable":
    case "disable":
      set(disabledKey(target(toolId, p)), op === "disable");
      return null;
    case "add_item": {
      const t = target(toolId, p);
      const item = p.item ?? p.value;
      if (item === undefined || item === "") throw new ToolError(toolId, `${toolId}: nothing to add`);
      const items = getValue(w, t);
      const next = [...(Array.isArray(items) ? items : []), item];
      set(t, next);
      // Clear the field the item came from, if named.
      if (typeof p.clear === "string") set(p.clear, "");
      return next;
    }
    case "remove_item": {
      const t = target(toolId, p);
      const items = getValue(w, t);
      const arr = Array.isArray(items) ? items : [];
      const wanted = p.item ?? p.value;
      const index = typeof p.index === "number" ? p.index : arr.findIndex((x) => x === wanted || (typeof x === "object" && x !== null && (x as { text?: unknown }).text === wanted));
      if (index < 0 || index >= arr.length) throw new ToolError(toolId, `${toolId}: no such item`);
      const next = arr.filter((_, i) => i !== index);
      set(t, next);
      return next;
    }
    default:
      throw new ToolError(toolId, `unknown tool "${toolId}"`);
  }
}

function mathTool(toolId: string, p: Params, scope: ToolScope): unknown {
  const op = toolId.slice(5);
  let result: number;
  try {
    switch (op) {
      case "evaluate":
      case "calculate": {
        const expression = p.expression ?? p.value;
        if (typeof expression !== "string") throw new ToolError(toolId, `${toolId} needs an "expression"`);
        result = evaluate(expression);
        break;
      }
      case "add":
        result = num(toolId, p, "a") + num(toolId, p, "b");
        break;
      case "subtract":
        result = num(toolId, p, "a") - num(toolId, p, "b");
        break;
      case "multiply":
        result = num(toolId, p, "a") * num(toolId, p, "b");
        break;
      case "divide": {
        const b = num(toolId, p, "b");
        if (b === 0) throw new MathError("division by zero");
        result = num(toolId, p, "a") / b;
        break;
      }
      case "power":
        result = num(toolId, p, "a") ** num(toolId, p, "b");
        break;
      case "sqrt":
        result = evaluate(`sqrt(${num(toolId, p, "value")})`);
        break;
      case "sum":
        result = list(toolId, p).reduce((a, b) => a + b, 0);
        break;
      case "mean":
        result = list(toolId, p).reduce((a, b) => a + b, 0) / list(toolId, p).length;
        break;
      case "min":
        result = Math.min(...list(toolId, p));
        break;
      case "max":
        result = Math.max(...list(toolId, p));
        break;
      case "median": {
        const xs = [...list(toolId, p)].sort((a, b) => a - b);
        const mid = Math.floor(xs.length / 2);
        result = xs.length % 2 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
        break;
      }
      case "stddev": {
        const xs = list(toolId, p);
        const m = xs.reduce((a, b) => a + b, 0) / xs.length;
        result = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length);
        break;
      }
      default:
        throw new ToolError(toolId, `unknown tool "${toolId}"`);
    }
    if (!Number.isFinite(result)) throw new MathError("result is not a finite number");
  } catch (err) {
    if (err instanceof MathError) throw new ToolError(toolId, err.message);
    throw err;
  }
  const shown = formatNumber(result);
  if (typeof p.target === "string" && p.target) applyAppState(setValues(scope.windowId, { [p.target]: shown }));
  return result;
}

export async function executeTool(toolId: string, params: Params, scope: ToolScope): Promise<unknown> {
  if (toolId.startsWith("ui.")) return uiTool(toolId, params, scope);
  if (toolId.startsWith("math.")) return mathTool(toolId, params, scope);
  // result_target is the page's, not the tool's: it is not sent.
  const { result_target: _resultTarget, ...sent } = params;
  const res = await api.execute(toolId, sent, scope.serverId ?? undefined).catch((err: unknown) => {
    throw new ToolError(toolId, err instanceof Error ? err.message : String(err));
  });
  if (!res.success) throw new ToolError(toolId, `${toolId}: ${res.error ?? "failed"}`);
  // A remote tool's result goes into the component named by `result_target`, if any
  // (e.g. storage.get into a text, fs.list into a list).
  if (typeof params.result_target === "string" && params.result_target) {
    applyAppState(setValues(scope.windowId, { [params.result_target]: res.data }));
  }
  return res.data;
}
