// A tiny stand-in for `agentos up` for the desktop's own browser tests and
// screenshots: serves ui/dist and answers the API of issue 10 from fixtures
// (e2e/fixtures/) and in-memory state. Not a spec of the server, a client's
// reading of it: the shapes here are the ones ui/README.md lists.
//
//   node e2e/mock-server.mjs [port]     (prints "mock: http://127.0.0.1:PORT/?token=mock-token")
//
// Shapes follow services/openapi.json of the services branch (bare arrays,
// `kind`, `source.blueprint`, British window states, sessions saved as
// {name, state}); /api/processes is the mock's own (the task manager's
// kernel data, not in the server yet).
//
// Auth: POST /api/auth/exchange {"token": "mock-token"} (what the page does
// with `/?token=`), or POST /api/auth/login {"username": "owner",
// "password": "agentos"}, sets an
// HttpOnly session cookie; /api without it answers 401 with the error body.

import { createHash, randomUUID } from "node:crypto";
import { readFileSync, existsSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "..", "dist");
const fixture = (name) => JSON.parse(readFileSync(join(here, "fixtures", name), "utf8"));

export const TOKEN = "mock-token";
const COOKIE = "agentos_session";

export function createMockServer({ requireAuth = true } = {}) {
  const sessionId = randomUUID();
  const registry = fixture("registry.json");
  // The services' own prebuilt Blueprints (apps/blueprint/*.bp, copied as server-*.bp.json),
  // and the desktop's component gallery.
  const blueprints = Object.fromEntries([
    ...["calculator", "notes", "todo", "timer"].map((id) => [id, fixture(`server-${id}.bp.json`)]),
    ["showcase", fixture("showcase.bp.json")],
  ]);
  // The gallery's big list: 10,000 items.
  const big = JSON.stringify(blueprints.showcase).replace('"items":[]', `"items":${JSON.stringify(Array.from({ length: 10000 }, (_, i) => `Item ${i + 1}`))}`);
  blueprints.showcase = JSON.parse(big);

  const state = {
    apps: new Map(), // id -> instance
    settings: {
      appearance: { theme: "dark", accent: "#8ab4ff", wallpaper: "aurora" },
      restore_on_login: false,
      scheduler: { policy: "fair", freeze_minimised: false },
      default_grants: [],
      llm: { url: null, model: null },
    },
    sessions: [],
    storage: new Map(),
    fs: new Map([
      ["/", { dir: true }],
      ["/home", { dir: true }],
      ["/home/readme.txt", { dir: false, content: "Welcome to AgentOS\n" }],
      ["/tmp", { dir: true }],
    ]),
    sockets: new Set(),
    seq: 0,
  };

  const health = {
    status: "ok",
    version: "0.1.0-mock",
    kernel: { connected: true, socket: "/run/agentos/kernel.sock", uptime_ms: 120000 },
    doctor: {
      io_uring: { backend: "io_uring", available: true, reason: "io_uring_setup succeeded (mock)" },
      namespaces: { backend: "linux-namespaces", available: true, reason: "unshare ok (mock)" },
      ebpf: { backend: "userspace", available: false, reason: "kernel built without eBPF programs (mock)" },
    },
  };

  function send(res, status, body, headers = {}) {
    const text = body === undefined ? "" : JSON.stringify(body);
    res.writeHead(status, { "Content-Type": "application/json", ...headers });
    res.end(text);
  }
  const err = (res, status, code, message) => send(res, status, { error: { code, message } });

  function authed(req) {
    if (!requireAuth) return true;
    return (req.headers.cookie ?? "").split(/;\s*/).includes(`${COOKIE}=${sessionId}`);
  }
  const cookie = `${COOKIE}=${sessionId}; HttpOnly; SameSite=Strict; Path=/`;

  async function body(req) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const text = Buffer.concat(chunks).toString("utf8");
    return text ? JSON.parse(text) : {};
  }

  function launch(id) {
    const reg = registry.find((r) => r.id === id);
    if (!reg) return null;
    const source =
      reg.kind === "blueprint" ? { kind: "blueprint", blueprint: blueprints[id] } : reg.kind === "native_web" ? { kind: "native_web", id } : { kind: "native_process", manifest: { id, name: reg.name, argv: ["/bin/sh"], tty: true } };
    const n = ++state.seq;
    const inst = {
      id: `app-${n}`,
      app_id: id,
      name: reg.name,
      icon: reg.icon,
      kind: reg.kind,
      children: [],
      focused: true,
      started_unix_ms: Date.now(),
      source,
      // As the server: no geometry until the desktop reports where it placed the window.
      window: { state: "normal", z: n },
      ...(reg.kind === "native_process" ? { pid: 4000 + n } : {}),
      ...(reg.kind === "native_web" ? { entry: `/apps/native/${id}/index.js` } : {}),
    };
    state.apps.set(inst.id, inst);
    return inst;
  }

  function fsTool(tool, p) {
    const path = (x) => normalize(String(x ?? "/")).replace(/\/+$/, "") || "/";
    switch (tool) {
      case "fs.list": {
        const dir = path(p.path);
        if (!state.fs.get(dir)?.dir) return { success: false, error: `not a directory: ${dir}` };
        const entries = [...state.fs.entries()]
          .filter(([k]) => k !== dir && dirname(k) === dir)
          .map(([k, v]) => ({ name: k.slice(k.lastIndexOf("/") + 1), path: k, is_dir: v.dir, size: v.dir ? 0 : v.content.length }));
        return { success: true, data: { entries } };
      }
      case "fs.mkdir": {
        const dir = path(p.path);
        if (state.fs.has(dir)) return { success: false, error: `already exists: ${dir}` };
        state.fs.set(dir, { dir: true });
        return { success: true, data: null };
      }
      case "fs.rename":
      case "fs.move": {
        const from = path(p.from);
        const to = path(p.to);
        if (!state.fs.has(from)) return { success: false, error: `no such file: ${from}` };
        for (const [k, v] of [...state.fs.entries()]) {
          if (k === from || k.startsWith(`${from}/`)) {
            state.fs.delete(k);
            state.fs.set(to + k.slice(from.length), v);
          }
        }
        return { success: true, data: null };
      }
      case "fs.delete": {
        const target = path(p.path);
        if (!state.fs.has(target)) return { success: false, error: `no such file: ${target}` };
        for (const k of [...state.fs.keys()]) if (k === target || k.startsWith(`${target}/`)) state.fs.delete(k);
        return { success: true, data: null };
      }
      case "fs.read": {
        const f = state.fs.get(path(p.path));
        if (!f || f.dir) return { success: false, error: "not a file" };
        return { success: true, data: { content: f.content } };
      }
      case "fs.write": {
        state.fs.set(path(p.path), { dir: false, content: String(p.content ?? "") });
        return { success: true, data: null };
      }
    }
    return null;
  }

  async function api(req, res, url) {
    const m = (re) => url.pathname.match(re);
    let g;
    const user = { id: "u1", username: "owner", owner: true, has_password: true };
    if (req.method === "POST" && url.pathname === "/api/auth/login") {
      const b = await body(req);
      if (b.username !== "owner" || b.password !== "agentos") return err(res, 401, "bad_credentials", "wrong user name or password");
      return send(res, 200, { user, token: sessionId }, { "Set-Cookie": cookie });
    }
    if (req.method === "POST" && url.pathname === "/api/auth/exchange") {
      const b = await body(req);
      if (b.token !== TOKEN) return err(res, 401, "bad_token", "this login token is not valid (it works once)");
      return send(res, 200, { user, token: sessionId }, { "Set-Cookie": cookie });
    }
    if (!authed(req)) return err(res, 401, "unauthenticated", "no session cookie");
    if (req.method === "GET" && url.pathname === "/api/apps") return send(res, 200, [...state.apps.values()]);
    if (req.method === "GET" && url.pathname === "/api/settings") return send(res, 200, state.settings);
    if (req.method === "PUT" && url.pathname === "/api/settings") {
      state.settings = await body(req);
      return send(res, 200, state.settings);
    }
    if (req.method === "GET" && url.pathname === "/api/files/access") return send(res, 200, { path: url.searchParams.get("path"), apps: [] });
    if (req.method === "GET" && url.pathname === "/api/registry/apps") {
      const q = (url.searchParams.get("search") ?? "").toLowerCase();
      const c = url.searchParams.get("category");
      return send(res, 200, registry.filter((r) => (!c || r.category === c) && (!q || r.name.toLowerCase().includes(q))));
    }
    if (req.method === "POST" && (g = m(/^\/api\/registry\/apps\/([^/]+)\/launch$/))) {
      const inst = launch(decodeURIComponent(g[1]));
      return inst ? send(res, 201, inst) : err(res, 404, "not_found", `no app ${g[1]}`);
    }
    if (req.method === "DELETE" && (g = m(/^\/api\/registry\/apps\/([^/]+)$/))) {
      const i = registry.findIndex((r) => r.id === decodeURIComponent(g[1]));
      if (i < 0) return err(res, 404, "not_found", "no such app");
      registry.splice(i, 1);
      return send(res, 204);
    }
    if (req.method === "POST" && (g = m(/^\/api\/apps\/([^/]+)\/(focus|window)$/))) {
      const inst = state.apps.get(decodeURIComponent(g[1]));
      if (!inst) return err(res, 404, "not_found", "no such app");
      const b = await body(req);
      if (g[2] === "window") {
        // The server's WindowPatch: these keys only, British states.
        const extra = Object.keys(b).filter((k) => !["x", "y", "width", "height", "state"].includes(k));
        if (extra.length) return err(res, 422, "invalid_body", `unknown field(s) ${extra.join(", ")}`);
        if (b.state !== undefined && !["normal", "minimised", "maximised"].includes(b.state)) return err(res, 422, "invalid_body", `unknown window state ${b.state}`);
        const rect = ["x", "y", "width", "height"].filter((k) => b[k] !== undefined).length;
        if (inst.window.x === undefined && rect !== 0 && rect !== 4) return err(res, 400, "invalid_argument", "a window's x, y, width and height come together");
        inst.window = { ...inst.window, ...b };
      }
      return send(res, 200, inst);
    }
    if (req.method === "POST" && (g = m(/^\/api\/apps\/([^/]+)\/grants$/))) {
      const inst = state.apps.get(decodeURIComponent(g[1]));
      if (!inst) return err(res, 404, "not_found", "no such app");
      const b = await body(req);
      if (!["once", "always"].includes(b.scope)) return err(res, 422, "invalid_body", "scope must be once or always");
      if (typeof b.capability !== "string") return err(res, 422, "invalid_body", "capability is required");
      (inst.grants ??= []).push(b);
      return send(res, 200, { app_id: inst.id, pid: 4242, capability: b.capability, scope: b.scope });
    }
    if (req.method === "DELETE" && url.pathname === "/api/apps") {
      // Sign-out: every app closed.
      const closed = [...state.apps.keys()];
      state.apps.clear();
      return send(res, 200, { closed });
    }
    if (req.method === "DELETE" && (g = m(/^\/api\/apps\/([^/]+)$/))) {
      const id = decodeURIComponent(g[1]);
      const ok = state.apps.delete(id);
      return ok ? send(res, 200, { closed: [id] }) : err(res, 404, "not_found", "no such app");
    }
    if (req.method === "POST" && url.pathname === "/api/services/execute") {
      // The server's contract: `{tool, args, app_id?}` → `{tool, result, changes}`, a refusal as a 4xx.
      const b = await body(req);
      const p = b.args ?? {};
      const answer = (a) =>
        a.success ? send(res, 200, { tool: b.tool, result: a.data ?? null, changes: [] }) : err(res, 400, "invalid_args", a.error);
      const fsAnswer = fsTool(b.tool, p);
      if (fsAnswer) return answer(fsAnswer);
      if (b.tool === "storage.set") {
        state.storage.set(String(p.key), p.value);
        return answer({ success: true, data: true });
      }
      if (b.tool === "storage.get") return answer({ success: true, data: state.storage.get(String(p.key)) ?? null });
      return err(res, 404, "unknown_tool", `unknown tool ${b.tool}`);
    }
    const summary = ({ apps, chat: _chat, ...s }) => ({ ...s, apps: apps.length });
    if (req.method === "GET" && url.pathname === "/api/sessions") return send(res, 200, state.sessions.map(summary));
    if (req.method === "POST" && (url.pathname === "/api/sessions/save" || url.pathname === "/api/sessions/save-default")) {
      const b = await body(req);
      const extra = Object.keys(b).filter((k) => !["name", "state", "chat"].includes(k));
      if (extra.length) return err(res, 422, "invalid_body", `unknown field(s) ${extra.join(", ")}`);
      // save-default replaces the session `default` (the last session, saved at sign-out).
      const isDefault = url.pathname.endsWith("save-default");
      // As the services do: nothing open keeps the last session as it was.
      if (isDefault && state.apps.size === 0) return send(res, 204);
      const id = isDefault ? "default" : `s-${state.sessions.length + 1}`;
      const apps = [...state.apps.values()].map((a) => ({ id: a.id, app_id: a.app_id, name: a.name, parent_id: null, window: a.window, focused: false, source: a.source, state: b.state?.[a.id] ?? null }));
      const session = { id, name: b.name ?? id, saved_unix_ms: Date.now(), apps, chat: b.chat ?? [] };
      state.sessions = [...state.sessions.filter((x) => x.id !== id), session];
      return send(res, isDefault ? 200 : 201, summary(session));
    }
    if (req.method === "GET" && (g = m(/^\/api\/sessions\/([^/]+)$/))) {
      const s = state.sessions.find((x) => x.id === g[1]);
      return s ? send(res, 200, s) : err(res, 404, "not_found", "no such session");
    }
    if (req.method === "POST" && (g = m(/^\/api\/sessions\/([^/]+)\/restore$/))) {
      const s = state.sessions.find((x) => x.id === g[1]);
      if (!s) return err(res, 404, "not_found", "no such session");
      // Relaunched with new ids, at their saved windows.
      for (const a of s.apps) {
        const inst = launch(a.app_id);
        if (inst) inst.window = { ...a.window };
      }
      return send(res, 200, { session: summary(s), apps: [...state.apps.values()] });
    }
    if (req.method === "GET" && url.pathname === "/api/processes") {
      const processes = [...state.apps.values()]
        .filter((a) => a.kind === "native_process")
        .map((a) => ({ pid: a.pid, app_id: a.id, name: a.name, state: "running", cpu_percent: Number((2 + 3 * Math.abs(Math.sin(Date.now() / 4000 + a.pid))).toFixed(1)), memory_current: 3_145_728, memory_peak: 4_194_304, pids: 1 }));
      return send(res, 200, { processes });
    }
    if (req.method === "GET" && url.pathname === "/api/blueprint/schema.json") return send(res, 200, { $schema: "https://json-schema.org/draft/2020-12/schema" });
    return err(res, 404, "not_found", `${req.method} ${url.pathname} is not in the mock`);
  }

  function serveStatic(req, res, url) {
    const native = /^\/apps\/native\/([\w-]+)\/index\.js$/.exec(url.pathname);
    if (native && existsSync(join(here, "fixtures", "native", native[1], "index.js"))) {
      res.writeHead(200, { "Content-Type": "text/javascript" });
      return res.end(readFileSync(join(here, "fixtures", "native", native[1], "index.js")));
    }
    if (url.searchParams.get("token") === TOKEN) res.setHeader("Set-Cookie", cookie);
    let file = normalize(join(dist, decodeURIComponent(url.pathname)));
    if (!file.startsWith(dist) || !existsSync(file) || statSync(file).isDirectory()) file = join(dist, "index.html");
    if (!existsSync(file)) {
      res.writeHead(500, { "Content-Type": "text/plain" });
      return res.end("ui/dist is not built: run npm run build");
    }
    const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".json": "application/json" };
    res.writeHead(200, { "Content-Type": types[extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    const done = (e) => {
      console.error(e);
      if (!res.headersSent) err(res, 500, "internal", "Internal Server Error");
    };
    try {
      if (url.pathname === "/health") return send(res, 200, health);
      if (url.pathname === "/metrics") {
        if (!authed(req)) return err(res, 401, "unauthenticated", "no session cookie");
        res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" });
        return res.end(
          `# TYPE agentos_active_apps gauge\nagentos_active_apps ${state.apps.size}\n# TYPE agentos_ws_connections gauge\nagentos_ws_connections ${state.sockets.size}\n# TYPE agentos_http_requests_total counter\nagentos_http_requests_total{route="/api/apps",status="200"} 12\n`,
        );
      }
      if (url.pathname.startsWith("/api/")) return void api(req, res, url).catch(done);
      serveStatic(req, res, url);
    } catch (e) {
      done(e);
    }
  });

  // ---- WebSocket /api/stream (RFC 6455, text frames only) -------------------
  server.on("upgrade", (req, socket) => {
    const url = new URL(req.url, "http://localhost");
    if (url.pathname !== "/api/stream" || !authed(req)) {
      socket.end("HTTP/1.1 401 Unauthorized\r\n\r\n");
      return;
    }
    const accept = createHash("sha1").update(`${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    const ws = { socket, send: (msg) => socket.write(frame(JSON.stringify(msg))) };
    state.sockets.add(ws);
    let buf = Buffer.alloc(0);
    socket.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const f = parseFrame(buf);
        if (!f) break;
        buf = buf.subarray(f.length);
        if (f.opcode === 8) return socket.end();
        if (f.opcode === 1) onMessage(ws, f.text);
      }
    });
    socket.on("close", () => state.sockets.delete(ws));
    socket.on("error", () => state.sockets.delete(ws));
  });

  const lines = new Map(); // app id -> pending input line
  function onMessage(ws, text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return ws.send({ type: "error", message: "not JSON" });
    }
    if (msg.type === "ping") return ws.send({ type: "pong" });
    if (msg.type === "subscribe") return ws.send({ type: "process_output", app_id: msg.app_id, data: "mock shell — type `echo hello` or `exit 3`\r\n$ " });
    if (msg.type === "stdin") {
      // A line-buffered echo shell with `exit N`.
      let line = lines.get(msg.app_id) ?? "";
      for (const ch of msg.data) {
        if (ch === "\r") {
          ws.send({ type: "process_output", app_id: msg.app_id, data: "\r\n" });
          const ex = /^exit\s*(\d*)$/.exec(line.trim());
          if (ex) {
            ws.send({ type: "process_exit", app_id: msg.app_id, pid: 0, code: Number(ex[1] || 0), signal: null, oom_killed: false, description: `exited with code ${Number(ex[1] || 0)}` });
            const inst = state.apps.get(msg.app_id);
            if (inst) inst.state = "exited";
            return;
          }
          if (line.trim() === "cat /secret") {
            const inst = state.apps.get(msg.app_id);
            if (inst?.grants?.length) {
              if (inst.grants[0].scope === "once") inst.grants.shift();
              ws.send({ type: "process_output", app_id: msg.app_id, data: "top secret\r\n$ " });
            } else {
              ws.send({ type: "process_output", app_id: msg.app_id, data: "cat: /secret: Permission denied\r\n$ " });
              ws.send({ type: "denial", app_id: msg.app_id, pid: 4242, access: "read /secret", reason: "no read grant for /secret", capability: "read:/secret" });
            }
            line = "";
            lines.set(msg.app_id, line);
            return;
          }
          const echo = /^echo\s+(.*)$/.exec(line);
          ws.send({ type: "process_output", app_id: msg.app_id, data: `${echo ? echo[1] : line ? `${line.split(" ")[0]}: command not found` : ""}${line ? "\r\n" : ""}$ ` });
          line = "";
        } else if (ch === "\x7f") {
          if (line) {
            line = line.slice(0, -1);
            ws.send({ type: "process_output", app_id: msg.app_id, data: "\b \b" });
          }
        } else {
          line += ch;
          ws.send({ type: "process_output", app_id: msg.app_id, data: ch });
        }
      }
      lines.set(msg.app_id, line);
      return;
    }
    if (msg.type === "resize") return;
    if (msg.type === "generate_ui") {
      // The server's ClientMsg: {type, prompt}, unknown fields refused.
      if (Object.keys(msg).some((k) => !["type", "prompt"].includes(k))) return ws.send({ type: "error", code: "invalid_body", message: "not a client message: unknown field" });
      // Stream the calculator as a flat component list, as a generator would.
      const rid = undefined;
      const flat = [];
      const walk = (c) => {
        const { children, ...rest } = c;
        flat.push({ ...rest, ...(children ? { children: children.map((k) => k.id) } : {}) });
        (children ?? []).forEach(walk);
      };
      blueprints.calculator.ui.components.forEach(walk);
      ws.send({ type: "thought", content: `Building an app for “${msg.prompt}”` });
      let i = 0;
      const timer = setInterval(() => {
        if (i < flat.length) ws.send({ type: "ui_component", request_id: rid, component: flat[i++] });
        else {
          clearInterval(timer);
          ws.send({ type: "ui_complete", request_id: rid, blueprint: { ...blueprints.calculator, app: { ...blueprints.calculator.app, id: "generated", name: "Generated app" }, ui: { ...blueprints.calculator.ui, title: "Generated app" } } });
        }
      }, 40);
      return;
    }
    ws.send({ type: "error", message: `unknown message type ${msg.type}` });
  }

  return server;
}

function frame(text) {
  const payload = Buffer.from(text, "utf8");
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x81, n]) : n < 65536 ? Buffer.from([0x81, 126, n >> 8, n & 255]) : Buffer.concat([Buffer.from([0x81, 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
  return Buffer.concat([head, payload]);
}

function parseFrame(buf) {
  if (buf.length < 2) return null;
  const opcode = buf[0] & 15;
  const masked = buf[1] & 128;
  let len = buf[1] & 127;
  let off = 2;
  if (len === 126) {
    if (buf.length < 4) return null;
    len = buf.readUInt16BE(2);
    off = 4;
  } else if (len === 127) {
    if (buf.length < 10) return null;
    len = Number(buf.readBigUInt64BE(2));
    off = 10;
  }
  const maskOff = off;
  if (masked) off += 4;
  if (buf.length < off + len) return null;
  const data = Buffer.from(buf.subarray(off, off + len));
  if (masked) for (let i = 0; i < len; i++) data[i] ^= buf[maskOff + (i % 4)];
  return { opcode, text: data.toString("utf8"), length: off + len };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] ?? 0);
  const server = createMockServer();
  server.listen(port, "127.0.0.1", () => {
    console.log(`mock: http://127.0.0.1:${server.address().port}/?token=${TOKEN}`);
  });
}
