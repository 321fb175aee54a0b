/**
 * The desktop's one WebSocket, `/api/stream`: JSON messages with a `type`.
 * Connects on first use, queues what is sent while connecting, reconnects
 * with backoff (1 s doubling to 15 s), and validates every message it gets.
 * A message that fails validation reaches listeners as an `error` message,
 * so it is seen, not dropped. The schemas load with the first message
 * (`lazySchemas.ts`); messages are delivered in the order they came.
 */
import { create } from "zustand";
import { loadSchemas, type Schemas } from "./lazySchemas";
import type { ClientMessage, ServerMessage } from "./schemas";

export type StreamStatus = "idle" | "connecting" | "open" | "closed";
export const useStreamStatus = create<{ status: StreamStatus; error: string }>()(() => ({ status: "idle", error: "" }));

type Listener = (msg: ServerMessage) => void;

export interface Stream {
  send: (msg: ClientMessage) => void;
  subscribe: (fn: Listener) => () => void;
  close: () => void;
}

export function streamUrl(loc: Location = window.location): string {
  return `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}/api/stream`;
}

/** A message of the stream, validated; anything else as an `error` message that says what was wrong. */
function decode({ ServerMessageSchema }: Schemas, text: string): ServerMessage {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { type: "error", message: "the stream sent a message that is not JSON" };
  }
  const parsed = ServerMessageSchema.safeParse(data);
  if (parsed.success) return parsed.data;
  const type = (data as { type?: unknown })?.type;
  return { type: "error", message: `unexpected stream message${typeof type === "string" ? ` "${type}"` : ""}: ${parsed.error.issues[0]?.message ?? ""}` };
}

export function createStream(makeSocket: () => WebSocket = () => new WebSocket(streamUrl())): Stream {
  const listeners = new Set<Listener>();
  const queue: string[] = [];
  let ws: WebSocket | null = null;
  let backoff = 1000;
  let closed = false;
  let retry: ReturnType<typeof setTimeout> | undefined;

  const emit = (msg: ServerMessage) => listeners.forEach((l) => l(msg));

  function connect() {
    if (ws || closed) return;
    useStreamStatus.setState({ status: "connecting" });
    let sock: WebSocket;
    try {
      sock = makeSocket();
    } catch (err) {
      useStreamStatus.setState({ status: "closed", error: String(err) });
      return;
    }
    ws = sock;
    sock.onopen = () => {
      backoff = 1000;
      useStreamStatus.setState({ status: "open", error: "" });
      while (queue.length) sock.send(queue.shift()!);
    };
    sock.onmessage = (ev) => {
      const text = String(ev.data);
      // One shared promise: its callbacks run in the order they were added, so messages stay in order.
      void loadSchemas().then(
        (schemas) => emit(decode(schemas, text)),
        (err: unknown) => emit({ type: "error", message: `the desktop's schemas did not load: ${err instanceof Error ? err.message : String(err)}` }),
      );
    };
    sock.onclose = () => {
      ws = null;
      useStreamStatus.setState({ status: "closed" });
      if (!closed && listeners.size > 0) {
        retry = setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 15_000);
      }
    };
    sock.onerror = () => useStreamStatus.setState({ error: "connection failed" });
  }

  return {
    send(msg) {
      const text = JSON.stringify(msg);
      if (ws && ws.readyState === 1) ws.send(text);
      else {
        queue.push(text);
        connect();
      }
    },
    subscribe(fn) {
      listeners.add(fn);
      connect();
      return () => listeners.delete(fn);
    },
    close() {
      closed = true;
      clearTimeout(retry);
      ws?.close();
    },
  };
}

let shared: Stream | null = null;
/** The page's stream (created on first use). */
export function stream(): Stream {
  shared ??= createStream();
  return shared;
}
export function setStream(s: Stream | null): void {
  shared = s;
}
/** Closes the page's stream, if one is open; the next use opens a new one. */
export function closeStream(): void {
  shared?.close();
  shared = null;
}
