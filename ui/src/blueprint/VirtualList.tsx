import { useRef, useState, type ReactNode } from "react";

/**
 * A windowed list: only the rows in view (plus a few) are in the DOM, so
 * 10,000 items scroll like 20. Rows have a fixed height. Arrow keys move
 * the active row; the list keeps it scrolled into view.
 */
export function VirtualList({
  count,
  itemHeight,
  height,
  renderItem,
  onSelect,
  label,
  className,
  overscan = 6,
  ...rest
}: {
  count: number;
  itemHeight: number;
  height: number;
  renderItem: (index: number) => ReactNode;
  onSelect?: (index: number) => void;
  label: string;
  className?: string;
  overscan?: number;
  "data-component-id"?: string;
}) {
  const [scrollTop, setScrollTop] = useState(0);
  const [active, setActive] = useState(0);
  const ref = useRef<HTMLDivElement>(null);
  const first = Math.max(0, Math.floor(scrollTop / itemHeight) - overscan);
  const last = Math.min(count - 1, Math.ceil((scrollTop + height) / itemHeight) + overscan);
  const rows: ReactNode[] = [];
  for (let i = first; i <= last; i++) {
    rows.push(
      <li
        key={i}
        role="option"
        aria-selected={i === active}
        aria-setsize={count}
        aria-posinset={i + 1}
        className={`bp-list-item${i === active ? " active" : ""}`}
        style={{ position: "absolute", top: i * itemHeight, height: itemHeight, left: 0, right: 0 }}
        onClick={() => {
          setActive(i);
          onSelect?.(i);
        }}
      >
        {renderItem(i)}
      </li>,
    );
  }
  const move = (to: number) => {
    const i = Math.max(0, Math.min(count - 1, to));
    setActive(i);
    const el = ref.current;
    if (!el) return;
    if (i * itemHeight < el.scrollTop) el.scrollTop = i * itemHeight;
    else if ((i + 1) * itemHeight > el.scrollTop + height) el.scrollTop = (i + 1) * itemHeight - height;
  };
  return (
    <div
      ref={ref}
      className={`bp-virtual ${className ?? ""}`}
      style={{ height, overflowY: "auto", position: "relative" }}
      onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
      data-component-id={rest["data-component-id"]}
    >
      <ul
        role="listbox"
        aria-label={label}
        tabIndex={0}
        aria-activedescendant={undefined}
        style={{ position: "relative", height: count * itemHeight, margin: 0, padding: 0, listStyle: "none" }}
        onKeyDown={(e) => {
          const page = Math.max(1, Math.floor(height / itemHeight) - 1);
          if (e.key === "ArrowDown") move(active + 1);
          else if (e.key === "ArrowUp") move(active - 1);
          else if (e.key === "PageDown") move(active + page);
          else if (e.key === "PageUp") move(active - page);
          else if (e.key === "Home") move(0);
          else if (e.key === "End") move(count - 1);
          else if (e.key === "Enter") onSelect?.(active);
          else return;
          e.preventDefault();
        }}
      >
        {rows}
      </ul>
    </div>
  );
}
