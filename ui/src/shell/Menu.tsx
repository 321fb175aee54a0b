import { useEffect, useId, useRef, useState, type ReactNode } from "react";

export interface MenuItem {
  label: string;
  shortcut?: string;
  disabled?: boolean;
  onSelect: () => void;
}
export type MenuEntry = MenuItem | "separator";

/**
 * A menu-bar menu: a button that opens a `menu` of `menuitem`s. Arrow keys
 * move, Enter/Space choose, Escape closes and gives focus back to the button.
 */
export function MenuButton({ label, children, items, testId, className }: { label: string; children: ReactNode; items: MenuEntry[]; testId?: string; className?: string }) {
  const [open, setOpen] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLUListElement>(null);
  const id = useId();

  useEffect(() => {
    if (!open) return;
    menu.current?.querySelector<HTMLElement>("[role=menuitem]:not([aria-disabled=true])")?.focus();
    const onDown = (e: PointerEvent) => {
      if (!menu.current?.contains(e.target as Node) && !button.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("pointerdown", onDown);
    return () => document.removeEventListener("pointerdown", onDown);
  }, [open]);

  const close = (refocus: boolean) => {
    setOpen(false);
    if (refocus) button.current?.focus();
  };

  const onKeyDown = (e: React.KeyboardEvent) => {
    const all = [...(menu.current?.querySelectorAll<HTMLElement>("[role=menuitem]:not([aria-disabled=true])") ?? [])];
    const i = all.indexOf(document.activeElement as HTMLElement);
    if (e.key === "ArrowDown") all[(i + 1) % all.length]?.focus();
    else if (e.key === "ArrowUp") all[(i - 1 + all.length) % all.length]?.focus();
    else if (e.key === "Home") all[0]?.focus();
    else if (e.key === "End") all[all.length - 1]?.focus();
    else if (e.key === "Escape" || e.key === "Tab") close(e.key === "Escape");
    else return;
    e.preventDefault();
  };

  return (
    <div className="menu">
      <button
        ref={button}
        type="button"
        className={`menu-button${className ? ` ${className}` : ""}${open ? " open" : ""}`}
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={open ? id : undefined}
        aria-label={label}
        data-testid={testId}
        onClick={() => setOpen((o) => !o)}
        onKeyDown={(e) => {
          if (e.key === "ArrowDown") {
            e.preventDefault();
            setOpen(true);
          }
        }}
      >
        {children}
      </button>
      {open && (
        <ul ref={menu} id={id} className="menu-popup" role="menu" aria-label={label} onKeyDown={onKeyDown}>
          {items.map((item, i) =>
            item === "separator" ? (
              <li key={`sep-${i}`} role="separator" className="menu-separator" />
            ) : (
              <li
                key={item.label}
                role="menuitem"
                tabIndex={-1}
                aria-disabled={item.disabled || undefined}
                className="menu-item"
                onClick={() => {
                  if (item.disabled) return;
                  close(false);
                  item.onSelect();
                }}
                onKeyDown={(e) => {
                  if ((e.key === "Enter" || e.key === " ") && !item.disabled) {
                    e.preventDefault();
                    close(true);
                    item.onSelect();
                  }
                }}
              >
                <span>{item.label}</span>
                {item.shortcut && <kbd>{item.shortcut}</kbd>}
              </li>
            ),
          )}
        </ul>
      )}
    </div>
  );
}
