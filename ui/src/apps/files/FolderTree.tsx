import { useEffect, useState } from "react";
import type { FsEntry } from "../../api/schemas";

/**
 * The folder tree beside the file list: folders only, each loaded when first
 * expanded (through the same fs.list the list uses), the current folder marked.
 */
export function FolderTree({ list, cwd, onOpen, version }: { list: (dir: string) => Promise<FsEntry[]>; cwd: string; onOpen: (dir: string) => void; version: number }) {
  return (
    <nav aria-label="Folders" className="fm-tree">
      <ul>
      <Folder path="/" name="Home" list={list} cwd={cwd} onOpen={onOpen} version={version} depth={1} />
      </ul>
    </nav>
  );
}

function Folder({ path, name, list, cwd, onOpen, version, depth }: { path: string; name: string; list: (dir: string) => Promise<FsEntry[]>; cwd: string; onOpen: (dir: string) => void; version: number; depth: number }) {
  const onPath = cwd === path || cwd.startsWith(path === "/" ? "/" : `${path}/`);
  const [open, setOpen] = useState(onPath);
  const [children, setChildren] = useState<FsEntry[] | null>(null);
  useEffect(() => {
    if (onPath) setOpen(true);
  }, [onPath]);
  useEffect(() => {
    if (!open) return;
    let live = true;
    list(path).then(
      (es) => live && setChildren(es.filter((e) => e.is_dir).sort((a, b) => a.name.localeCompare(b.name))),
      () => live && setChildren([]),
    );
    return () => {
      live = false;
    };
  }, [open, path, list, version]);
  return (
    <li>
      <span className={cwd === path ? "fm-tree-row selected-row" : "fm-tree-row"}>
        <button type="button" className="fm-tree-toggle" aria-expanded={open} aria-label={`${open ? "Collapse" : "Expand"} ${name}`} onClick={() => setOpen((o) => !o)}>
          {open ? "▾" : "▸"}
        </button>
        <button type="button" className="fm-tree-name" title={name} aria-current={cwd === path ? "location" : undefined} style={{ paddingLeft: depth * 2 }} onClick={() => onOpen(path)}>
          {name}
        </button>
      </span>
      {open && children && children.length > 0 && (
        <ul>
          {children.map((c) => (
            <Folder key={c.path} path={c.path} name={c.name} list={list} cwd={cwd} onOpen={onOpen} version={version} depth={depth + 1} />
          ))}
        </ul>
      )}
    </li>
  );
}
