import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { z } from "zod";
import { FsEntrySchema, type FsEntry } from "../../api/schemas";
import { api } from "../../api/client";
import { formatBytes } from "../../lib/format";
import { roveIndex } from "../../shell/focus";
import type { AppContext } from "../context";
import "../apps.css";
import { FolderTree } from "./FolderTree";
import { PathAccessPanel } from "./PathAccessPanel";

/** What fs.search answers. */
const SearchResultSchema = z.object({
  matches: z.array(FsEntrySchema),
  truncated: z.boolean(),
});
type SearchResult = z.infer<typeof SearchResultSchema>;

/** A file's bytes as base64, for fs.write's `encoding: "base64"`. */
export async function base64Of(file: Blob): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

const join = (dir: string, name: string) => `${dir.replace(/\/+$/, "")}/${name}`;
const parent = (p: string) => p.replace(/\/[^/]+\/?$/, "") || "/";

type Edit = { kind: "mkdir" } | { kind: "rename" | "copy" | "move"; entry: FsEntry } | null;

const EDIT_LABEL = { mkdir: "Folder name", rename: "New name", copy: "Copy to", move: "Move to" } as const;
const EDIT_ACTION = { mkdir: "Create", rename: "Rename", copy: "Copy", move: "Move" } as const;

/**
 * Browse the user's files through the fs.* tools (POST /api/services/execute),
 * under this app's grants: a folder tree and a list, open, new folder, rename,
 * copy, move, delete, upload by drag and drop (the bytes as they are), filter
 * the folder by name, search its subfolders (fs.search); and for the
 * selected path (or the folder), which running apps may read or write it.
 */
export default function FileManager({ ctx }: { ctx: AppContext }) {
  const [cwd, setCwd] = useState(() => ctx.state.get("cwd", "/"));
  /** The listing on screen and the folder it is of: the table is labelled by
   *  what it shows, not by where the user is heading while it loads. */
  const [listing, setListing] = useState<{ dir: string; entries: FsEntry[] } | null>(null);
  const entries = listing?.entries ?? null;
  /** The folder asked for last: an answer for an earlier one is dropped. */
  const wanted = useRef(cwd);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [edit, setEdit] = useState<Edit>(null);
  const [name, setName] = useState("");
  const [filter, setFilter] = useState("");
  const [dragging, setDragging] = useState(false);
  const [preview, setPreview] = useState<{ path: string; text: string } | null>(null);
  const [query, setQuery] = useState("");
  const [found, setFound] = useState<({ query: string; dir: string } & SearchResult) | null>(null);
  /** Bumped after every change, so the tree and the access panel look again. */
  const [version, setVersion] = useState(0);
  /** The toolbar button that last had the focus (the toolbar roves). */
  const [toolIndex, setToolIndex] = useState(1);
  const listDir = useCallback((dir: string) => api.fsList(dir, ctx.serverId ?? undefined), [ctx.serverId]);

  const load = useCallback(async (dir: string) => {
    wanted.current = dir;
    try {
      const list = await api.fsList(dir, ctx.serverId ?? undefined);
      if (wanted.current !== dir) return;
      setListing({ dir, entries: [...list].sort((a, b) => Number(b.is_dir) - Number(a.is_dir) || a.name.localeCompare(b.name)) });
      setError(null);
    } catch (err) {
      if (wanted.current !== dir) return;
      setError(err instanceof Error ? err.message : String(err));
    }
  }, [ctx.serverId]);

  useEffect(() => {
    void load(cwd);
    ctx.state.set("cwd", cwd);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [cwd, load]);

  // The keyboard follows what the user did: a folder made, renamed, copied or moved
  // here gets the focus on its row once it is listed, a folder opened its first row
  // (or, empty, "Up one folder", at the top "New folder"); otherwise the form that did it would vanish with
  // the focus and leave it on the page.
  const tbody = useRef<HTMLTableSectionElement>(null);
  const upButton = useRef<HTMLButtonElement>(null);
  const newButton = useRef<HTMLButtonElement>(null);
  const focusNext = useRef<{ path: string } | { first: string } | null>(null);
  useLayoutEffect(() => {
    const want = focusNext.current;
    if (!want || !listing || !tbody.current) return;
    const rows = [...tbody.current.querySelectorAll<HTMLElement>("tr[data-path]")];
    if ("first" in want) {
      if (listing.dir !== want.first) return;
      focusNext.current = null;
      (rows[0] ?? (upButton.current?.disabled ? newButton.current : upButton.current))?.focus();
      return;
    }
    const row = rows.find((r) => r.dataset.path === want.path);
    if (!row) return;
    focusNext.current = null;
    row.focus();
  }, [listing]);

  const run = async (tool: string, params: Record<string, unknown>) => {
    try {
      await ctx.execute(tool, params);
      setError(null);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
    setVersion((v) => v + 1);
    await load(cwd);
  };

  const open = async (e: FsEntry) => {
    if (e.is_dir) {
      focusNext.current = { first: e.path };
      setCwd(e.path);
      setSelected(null);
      setPreview(null);
      return;
    }
    try {
      const data = (await ctx.execute("fs.read", { path: e.path })) as { content?: unknown } | string | null;
      const text = typeof data === "string" ? data : typeof data?.content === "string" ? data.content : JSON.stringify(data);
      setPreview({ path: e.path, text });
      setError(null);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  /** Drag and drop from the host: each file's bytes, as they are (fs.write decodes the base64 to them). */
  const upload = async (files: FileList) => {
    for (const file of Array.from(files)) {
      await run("fs.write", { path: join(cwd, file.name), content: await base64Of(file), encoding: "base64" });
    }
  };

  /** Searches below this folder, through its subfolders (fs.search, bounded by the server). */
  const search = async (query: string) => {
    const q = query.trim();
    if (!q) return setFound(null);
    const at = cwd;
    try {
      const res = SearchResultSchema.parse(await ctx.execute("fs.search", { path: at, query: q }));
      setFound({ query: q, dir: at, ...res });
      setError(null);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  /** A search result opened: a folder is entered, a file shown selected in its folder. */
  const reveal = (f: FsEntry) => {
    setFound(null);
    if (f.is_dir) return void open(f);
    setCwd(parent(f.path));
    setSelected(f.path);
  };

  const submitEdit = async () => {
    const n = name.trim();
    if (!n || !edit) return setEdit(null);
    if (edit.kind === "copy" || edit.kind === "move") {
      // A destination is a path under the user's files: absolute, or relative to this folder.
      const to = n.startsWith("/") ? n : join(cwd, n);
      focusNext.current = { path: to };
      await run(edit.kind === "copy" ? "fs.copy" : "fs.move", { from: edit.entry.path, to });
    } else {
      if (n.includes("/")) return setError("A name cannot contain “/”");
      focusNext.current = { path: join(cwd, n) };
      if (edit.kind === "mkdir") await run("fs.mkdir", { path: join(cwd, n) });
      else await run("fs.rename", { from: edit.entry.path, to: join(cwd, n) });
      setSelected(join(cwd, n));
    }
    setEdit(null);
    setName("");
  };

  const rename = (e: FsEntry) => {
    setSelected(e.path);
    setEdit({ kind: "rename", entry: e });
    setName(e.name);
  };
  const remove = (e: FsEntry) => {
    if (!window.confirm(`Delete ${e.path}?`)) return;
    // The keyboard goes on to the row that takes its place (the next, else the one before).
    const at = shown.findIndex((s) => s.path === e.path);
    const neighbour = shown[at + 1] ?? shown[at - 1];
    focusNext.current = neighbour ? { path: neighbour.path } : { first: cwd };
    void run("fs.delete", { path: e.path }).then(() => setSelected(null));
  };

  const sel = entries?.find((e) => e.path === selected) ?? null;
  const tools: { text: string; label?: string; disabled: boolean; run: () => void; ref?: React.Ref<HTMLButtonElement> }[] = [
    { text: "↑", label: "Up one folder", disabled: cwd === "/", run: () => setCwd(parent(cwd)), ref: upButton },
    { text: "New folder", disabled: false, run: () => (setEdit({ kind: "mkdir" }), setName("")), ref: newButton },
    { text: "Rename", disabled: !sel, run: () => sel && rename(sel) },
    { text: "Copy", disabled: !sel || sel.is_dir, run: () => sel && (setEdit({ kind: "copy", entry: sel }), setName(`${sel.path} copy`)) },
    { text: "Move", disabled: !sel, run: () => sel && (setEdit({ kind: "move", entry: sel }), setName(sel.path)) },
    { text: "Delete", disabled: !sel, run: () => sel && remove(sel) },
    { text: "Refresh", disabled: false, run: () => void load(cwd) },
  ];
  // The toolbar's one tab stop: the tool used last, or the first one enabled.
  const toolStop = tools[toolIndex]?.disabled === false ? toolIndex : tools.findIndex((t) => !t.disabled);
  const roveTools = (e: React.KeyboardEvent) => {
    const enabled = tools.flatMap((t, i) => (t.disabled ? [] : [i]));
    const to = roveIndex(enabled.length, Math.max(0, enabled.indexOf(toolIndex)), e.key);
    if (to === null) return;
    e.preventDefault();
    e.currentTarget.querySelectorAll<HTMLButtonElement>("button")[enabled[to]!]?.focus();
  };
  const shown = (entries ?? []).filter((e) => !filter || e.name.toLowerCase().includes(filter.toLowerCase()));

  return (
    <div
      className={`app-pane fm${dragging ? " fm-drop" : ""}`}
      onDragOver={(e) => {
        if (e.dataTransfer.types.includes("Files")) {
          e.preventDefault();
          setDragging(true);
        }
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        if (e.dataTransfer.files.length) void upload(e.dataTransfer.files);
      }}
    >
      {/* One tab stop, walked with the arrow keys (Home/End too), as a toolbar is (WAI-ARIA APG). */}
      <div className="toolbar" role="toolbar" aria-label="File actions" onKeyDown={roveTools}>
        {tools.map((t, i) => (
          <button
            key={t.text}
            type="button"
            ref={t.ref}
            className="btn"
            aria-label={t.label}
            disabled={t.disabled}
            tabIndex={i === toolStop ? 0 : -1}
            onFocus={() => setToolIndex(i)}
            onClick={t.run}
          >
            {t.text}
          </button>
        ))}
      </div>
      <form
        className="toolbar"
        role="search"
        aria-label="Search subfolders"
        onSubmit={(e) => {
          e.preventDefault();
          void search(query);
        }}
      >
        <input className="search" style={{ width: 160, margin: 0 }} type="search" aria-label="Filter by name" placeholder="Filter this folder…" value={filter} onChange={(e) => setFilter(e.target.value)} />
        <input className="search" style={{ width: 220, margin: 0 }} type="search" aria-label="Search this folder and its subfolders" placeholder="Search subfolders…" value={query} onChange={(e) => setQuery(e.target.value)} />
        <button type="submit" className="btn">
          Search
        </button>
      </form>
      {found && (
        <section className="fm-results" aria-label={`Search results for “${found.query}” below ${found.dir}`}>
          <header className="toolbar">
            <span className="small" role="status">
              {found.matches.length === 0 ? "Nothing found" : `${found.matches.length} found`}
              {found.truncated ? " (the search stopped at its limit; search a smaller folder for more)" : ""}
            </span>
            <button type="button" className="btn" onClick={() => setFound(null)}>
              Close search
            </button>
          </header>
          <ul className="fm-results-list">
            {found.matches.map((f) => (
              <li key={f.path}>
                <button type="button" className="mono small" onClick={() => reveal(f)}>
                  {f.path}
                  {f.is_dir ? "/" : ""}
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
      <p className="mono small muted" aria-label="Current folder">
        {cwd}
      </p>
      {edit && (
        <form
          className="toolbar"
          onSubmit={(e) => {
            e.preventDefault();
            void submitEdit();
          }}
        >
          <input
            autoFocus
            className="search"
            style={{ margin: 0, width: 240 }}
            aria-label={EDIT_LABEL[edit.kind]}
            value={name}
            onChange={(e) => setName(e.target.value)}
            onKeyDown={(e) => e.key === "Escape" && setEdit(null)}
          />
          <button type="submit" className="btn btn-primary">
            {EDIT_ACTION[edit.kind]}
          </button>
          <button type="button" className="btn" onClick={() => setEdit(null)}>
            Cancel
          </button>
        </form>
      )}
      {error && (
        <div className="error-box" role="alert">
          <strong>File operation failed</strong>
          <pre>{error}</pre>
        </div>
      )}
      <div className="fm-split">
      <FolderTree list={listDir} cwd={cwd} onOpen={(d) => (setCwd(d), setSelected(null))} version={version} />
      <div className="fm-main">
      {entries === null && !error && <p role="status">Loading…</p>}
      {listing && (
        <table className="data-table" aria-label={`Contents of ${listing.dir}`}>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col" className="num">
                Size
              </th>
            </tr>
          </thead>
          <tbody ref={tbody}>
            {shown.map((e) => (
              <tr
                key={e.path}
                data-path={e.path}
                tabIndex={0}
                aria-selected={selected === e.path}
                className={selected === e.path ? "selected-row" : undefined}
                onClick={() => setSelected(e.path)}
                onDoubleClick={() => void open(e)}
                // As in a desktop file manager: Enter opens, Space selects, F2 renames, Delete deletes.
                onKeyDown={(ev) => {
                  if (ev.key === "Enter") void open(e);
                  else if (ev.key === " ") setSelected(e.path);
                  else if (ev.key === "F2") rename(e);
                  else if (ev.key === "Delete") remove(e);
                  else return;
                  ev.preventDefault();
                }}
              >
                <td>
                  <svg className="fm-icon" viewBox="0 0 24 24" width="15" height="15" aria-hidden="true">
                    {e.is_dir ? <path d="M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z" fill="#60a5fa" /> : <path d="M6 3h8l4 4v14H6z" fill="none" stroke="currentColor" strokeWidth="1.6" />}
                  </svg>
                  {e.name}
                  {e.is_dir ? "/" : ""}
                </td>
                <td className="num">{e.is_dir ? "—" : formatBytes(e.size)}</td>
              </tr>
            ))}
            {shown.length === 0 && (
              <tr>
                <td colSpan={2} className="muted">
                  {filter ? "Nothing matches." : "This folder is empty."}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
      </div>
      </div>
      <PathAccessPanel path={selected ?? cwd} version={version} />
      {preview && (
        <section className="fm-preview" aria-label={`Preview of ${preview.path}`}>
          <header className="toolbar">
            <strong className="mono small">{preview.path}</strong>
            <button type="button" className="btn" onClick={() => setPreview(null)}>
              Close preview
            </button>
          </header>
          <pre>{preview.text}</pre>
        </section>
      )}
      <p className="muted small">Drop files here to upload them into this folder.</p>
    </div>
  );
}
