import { useEffect, useState } from "react";
import type { FsEntry } from "../../api/schemas";

/**
 * The folder tree beside the file list: folders only, each loaded when first
 * expanded (through the same fs.list the list uses), the current folder marked.
 */
export function FolderTree({ list, cwd, onOpen, version }: { list: (dir: string) => Promise<FsEntry[]>; cwd: string; onOpen: (dir: string) => void; version: number }) {
  return (
    <ul role="tree" aria-label="Folders" className="fm-tree">
      <Folder path="/" name="Home" list={list} cwd={cwd} onOpen={onOpen} version={version} depth={1} />
    </ul>
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
    <li role="treeitem" aria-expanded={open} aria-selected={cwd === path} aria-level={depth} aria-label={name}>
      <span className={cwd === path ? "fm-tree-row selected-row" : "fm-tree-row"}>
        <button type="button" className="fm-tree-toggle" aria-label={`${open ? "Collapse" : "Expand"} ${name}`} onClick={() => setOpen((o) => !o)}>
          {open ? "▾" : "▸"}
        </button>
        <button type="button" className="fm-tree-name" onClick={() => onOpen(path)}>
          {name}
        </button>
      </span>
      {open && children && children.length > 0 && (
        <ul role="group">
          {children.map((c) => (
            <Folder key={c.path} path={c.path} name={c.name} list={list} cwd={cwd} onOpen={onOpen} version={version} depth={depth + 1} />
          ))}
        </ul>
      )}
    </li>
  );
}
