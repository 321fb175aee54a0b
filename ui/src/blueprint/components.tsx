/**
 * The 23 Blueprint components. Each gets its node and its props already
 * checked by its zod schema (schema.ts). Inputs are controlled by the
 * window's component state, keyed by component id, so a re-rendered or
 * updated spec keeps what was typed; React keys are component ids, so DOM
 * nodes (and focus) survive updates.
 */
import { useEffect, useId, useRef, useState, type CSSProperties, type ComponentType, type ReactNode } from "react";
import { getValue, setValue } from "../apps/appState";
import { FOCUS_GUARD, leaveFrame } from "../shell/focus";
import { AppIcon } from "../shell/icons";
import { Children, Node, useRender, useValue } from "./Renderer";
import type { ComponentType as BpType, PropsOf } from "./schema";
import type { FlatNode } from "./tree";
import { VirtualList } from "./VirtualList";

type R<T extends BpType> = ComponentType<{ node: FlatNode; props: PropsOf<T> }>;

const SPACE: Record<string, number> = { none: 0, small: 6, medium: 12, large: 20 };
const space = (v: unknown): number | undefined => (typeof v === "number" ? v : typeof v === "string" ? SPACE[v] : undefined);

/** Inline style: the services write keys in snake_case (`font_size`), React wants camelCase. */
function base(p: { style?: Record<string, string | number> | undefined; weight?: number | undefined }): CSSProperties {
  const style: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(p.style ?? {})) style[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  return { ...(style as CSSProperties), ...(p.weight !== undefined ? { flexGrow: p.weight } : {}) };
}
function aria(p: { accessibility?: { label?: string | undefined; description?: string | undefined; live?: boolean | undefined } | undefined; aria_label?: string | undefined }) {
  const a = p.accessibility;
  const label = p.aria_label ?? a?.label;
  return {
    ...(label ? { "aria-label": label } : {}),
    ...(a?.description ? { title: a.description } : {}),
    ...(a?.live ? { "aria-live": "polite" as const } : {}),
  };
}

/** `onClick` only when the spec binds `click` (text, container, card, badge, canvas, image). */
function useClick(node: FlatNode) {
  const { fire } = useRender();
  return node.on_event.click ? { onClick: () => fire(node, "click"), style: { cursor: "pointer" } } : {};
}

/** Fires `change` when a value changes after the first render (a list's items changed by a tool). */
function useChangeEvent(node: FlatNode, value: unknown) {
  const { fire } = useRender();
  const first = useRef(true);
  const last = useRef(JSON.stringify(value));
  useEffect(() => {
    const now = JSON.stringify(value);
    if (first.current) {
      first.current = false;
      return;
    }
    if (now !== last.current && node.on_event.change) fire(node, "change", value);
    last.current = now;
  }, [value, node, fire]);
}

function useSetter(id: string) {
  const { windowId } = useRender();
  return (v: unknown) => setValue(windowId, id, v);
}

function optionsOf(options: (string | number | { value: string | number; label: string })[]) {
  return options.map((o) => (typeof o === "object" ? { value: String(o.value), label: o.label } : { value: String(o), label: String(o) }));
}

function Labelled({ label, id, children }: { label: string | undefined; id: string; children: ReactNode }) {
  if (!label) return <>{children}</>;
  return (
    <div className="bp-field">
      <label htmlFor={id}>{label}</label>
      {children}
    </div>
  );
}

const Button: R<"button"> = ({ node, props: p }) => {
  const { fire } = useRender();
  return (
    <button
      type="button"
      className={`bp-button bp-${p.variant ?? "default"} bp-size-${p.size ?? "medium"}${p.fullWidth ? " bp-full" : ""}`}
      style={base(p)}
      disabled={p.disabled}
      data-component-id={node.id}
      {...aria(p)}
      onClick={() => fire(node, "click", p.text)}
    >
      {p.text}
    </button>
  );
};

const Input: R<"input"> = ({ node, props: p }) => {
  const { fire } = useRender();
  const id = useId();
  const value = useValue<string | number>(node.id, p.value ?? "");
  const set = useSetter(node.id);
  return (
    <Labelled label={p.label} id={id}>
      <input
        id={id}
        className="bp-input"
        style={base(p)}
        type={p.input_type ?? p.type ?? "text"}
        placeholder={p.placeholder}
        disabled={p.disabled}
        readOnly={p.readonly}
        maxLength={p.max_length ?? p.maxLength}
        value={String(value)}
        data-component-id={node.id}
        {...(!p.label && !p.accessibility?.label && !p.aria_label ? { "aria-label": p.placeholder ?? node.id } : {})}
        {...aria(p)}
        onChange={(e) => {
          set(e.target.value);
          fire(node, "change", e.target.value);
        }}
        onKeyDown={(e) => {
          if (e.key === "Enter") fire(node, "submit", (e.target as HTMLInputElement).value);
        }}
        onFocus={() => fire(node, "focus")}
        onBlur={() => fire(node, "blur")}
      />
    </Labelled>
  );
};

const TEXT_ALIGN: Record<string, "left" | "center" | "right" | "justify"> = {
  start: "left",
  left: "left",
  center: "center",
  end: "right",
  right: "right",
  stretch: "justify",
  space_between: "justify",
  between: "justify",
  around: "center",
};

const Text: R<"text"> = ({ node, props: p }) => {
  const content = useValue<unknown>(node.id, p.text ?? p.content ?? "");
  const click = useClick(node);
  const variant = p.variant ?? "body";
  const Tag = variant === "h1" ? "h1" : variant === "h2" ? "h2" : variant === "h3" ? "h3" : variant === "code" ? "code" : variant === "display" ? "output" : "p";
  return (
    <Tag
      className={`bp-text bp-text-${variant} bp-color-${p.color ?? "default"}`}
      {...click}
      style={{ textAlign: TEXT_ALIGN[p.align ?? "start"], ...click.style, ...base(p) }}
      data-component-id={node.id}
      {...aria(p)}
    >
      {String(content ?? "")}
    </Tag>
  );
};

const Checkbox: R<"checkbox"> = ({ node, props: p }) => {
  const { fire } = useRender();
  const checked = useValue<boolean>(node.id, p.checked ?? false);
  const set = useSetter(node.id);
  return (
    <label className="bp-check" style={base(p)} data-component-id={node.id}>
      <input
        type="checkbox"
        checked={!!checked}
        disabled={p.disabled}
        {...aria(p)}
        onChange={(e) => {
          set(e.target.checked);
          fire(node, "change", e.target.checked);
        }}
      />
      {p.label}
    </label>
  );
};

/** One radio of a group (the services' form): the group's choice is kept under `$group.<group>`. */
function GroupRadio({ node, props: p }: { node: FlatNode; props: PropsOf<"radio"> }) {
  const { fire, windowId } = useRender();
  const key = `$group.${p.group}`;
  const chosen = useValue<string | undefined>(key, undefined);
  const checked = chosen === undefined ? !!p.checked : chosen === String(p.value);
  return (
    <label className="bp-check" style={base(p)} data-component-id={node.id}>
      <input
        type="radio"
        name={`${windowId}-${p.group}`}
        value={String(p.value)}
        checked={checked}
        disabled={p.disabled}
        {...aria(p)}
        onChange={() => {
          setValue(windowId, key, String(p.value));
          setValue(windowId, node.id, true);
          fire(node, "change", String(p.value));
        }}
      />
      {p.label}
    </label>
  );
}

const Radio: R<"radio"> = ({ node, props: p }) => {
  if (!p.options) return <GroupRadio node={node} props={p} />;
  return <RadioGroup node={node} props={p} />;
};

function RadioGroup({ node, props: p }: { node: FlatNode; props: PropsOf<"radio"> }) {
  const { fire } = useRender();
  const name = useId();
  const value = useValue<string | number | undefined>(node.id, p.value);
  const set = useSetter(node.id);
  return (
    <fieldset className="bp-radio" style={base(p)} data-component-id={node.id} disabled={p.disabled} {...aria(p)}>
      {p.label && <legend>{p.label}</legend>}
      {optionsOf(p.options ?? []).map((o) => (
        <label key={o.value} className="bp-check">
          <input
            type="radio"
            name={name}
            value={o.value}
            checked={String(value) === o.value}
            onChange={() => {
              set(o.value);
              fire(node, "change", o.value);
            }}
          />
          {o.label}
        </label>
      ))}
    </fieldset>
  );
}

const Slider: R<"slider"> = ({ node, props: p }) => {
  const { fire } = useRender();
  const id = useId();
  const value = useValue<number>(node.id, p.value ?? p.min);
  const set = useSetter(node.id);
  return (
    <div className="bp-field" style={base(p)} data-component-id={node.id}>
      {p.label && (
        <label htmlFor={id}>
          {p.label} <output className="muted">{value}</output>
        </label>
      )}
      <input
        id={id}
        type="range"
        min={p.min}
        max={p.max}
        step={p.step}
        disabled={p.disabled}
        value={Number(value)}
        {...(!p.label ? { "aria-label": p.accessibility?.label ?? node.id } : {})}
        onChange={(e) => {
          set(Number(e.target.value));
          fire(node, "change", Number(e.target.value));
        }}
      />
    </div>
  );
};

const FLEX: Record<string, string> = {
  start: "flex-start",
  left: "flex-start",
  center: "center",
  end: "flex-end",
  right: "flex-end",
  stretch: "stretch",
  between: "space-between",
  space_between: "space-between",
  around: "space-around",
};

const Container: R<"container"> = ({ node, props: p }) => (
  <div
    className={`bp-container bp-container-${p.direction === "row" || p.layout === "horizontal" ? "horizontal" : "vertical"}`}
    style={{
      display: "flex",
      flexDirection: p.direction === "row" || p.layout === "horizontal" ? "row" : "column",
      gap: space(p.gap ?? p.spacing) ?? 8,
      padding: space(p.padding),
      alignItems: (p.align ? FLEX[p.align] : p.direction === "row" || p.layout === "horizontal" ? "center" : undefined) as CSSProperties["alignItems"],
      justifyContent: (p.justify ? FLEX[p.justify] : undefined) as CSSProperties["justifyContent"],
      flexWrap: p.wrap ? "wrap" : undefined,
      ...base(p),
    }}
    data-component-id={node.id}
    {...aria(p)}
    {...(p.accessibility?.label ? { role: "group" } : {})}
  >
    <Children node={node} />
  </div>
);

const Grid: R<"grid"> = ({ node, props: p }) => (
  <div
    className="bp-grid"
    style={{ display: "grid", gridTemplateColumns: `repeat(${p.columns}, minmax(0, 1fr))`, gap: space(p.gap) ?? 8, padding: space(p.padding), ...base(p) }}
    data-component-id={node.id}
    {...aria(p)}
  >
    <Children node={node} />
  </div>
);

type Item = string | number | { id?: string | number | undefined; text: string };
const itemText = (it: Item) => (typeof it === "object" ? it.text : String(it));

const List: R<"list"> = ({ node, props: p }) => {
  const { fire } = useRender();
  const items = useValue<Item[]>(node.id, p.items ?? []);
  const set = useSetter(node.id);
  const arr = Array.isArray(items) ? items : [];
  useChangeEvent(node, items);
  const label = p.label ?? p.aria_label ?? p.accessibility?.label ?? node.id;
  if (arr.length === 0 && node.children.length === 0) {
    return (
      <p className="bp-list-empty muted" data-component-id={node.id}>
        {p.empty_text ?? "No items."}
      </p>
    );
  }
  const renderItem = (it: Item, i: number) => (
    <>
      <span className="bp-list-text">{itemText(it)}</span>
      {p.removable && (
        <button
          type="button"
          className="bp-list-remove"
          aria-label={`Remove ${itemText(it)}`}
          onClick={() => {
            set(arr.filter((_, j) => j !== i));
            fire(node, "remove", i);
          }}
        >
          ×
        </button>
      )}
    </>
  );
  if (arr.length > 100) {
    return (
      <VirtualList
        label={label}
        count={arr.length}
        itemHeight={p.item_height ?? 30}
        height={p.height ?? 320}
        className={`bp-list bp-list-${p.variant ?? "default"}`}
        renderItem={(i) => renderItem(arr[i]!, i)}
        onSelect={(i) => fire(node, "select", itemText(arr[i]!))}
        data-component-id={node.id}
      />
    );
  }
  const Tag = p.ordered ? "ol" : "ul";
  return (
    <Tag className={`bp-list bp-list-${p.variant ?? "default"}`} aria-label={label} style={{ gap: space(p.spacing), ...base(p) }} data-component-id={node.id}>
      {arr.map((it, i) => (
        <li key={typeof it === "object" && it.id !== undefined ? String(it.id) : `${i}-${itemText(it)}`} className="bp-list-item" onClick={() => fire(node, "select", itemText(it))}>
          {p.checkable ? <CheckItem node={node} text={itemText(it)} /> : null}
          {renderItem(it, i)}
        </li>
      ))}
      {node.children.map((c) => (
        <li key={c} className="bp-list-item">
          <Node id={c} />
        </li>
      ))}
    </Tag>
  );
};

/** A checkable list's box: the checked items' texts are kept under `<id>.$checked`. */
function CheckItem({ node, text }: { node: FlatNode; text: string }) {
  const { fire, windowId } = useRender();
  const key = `${node.id}.$checked`;
  const checked = useValue<string[]>(key, []);
  const on = Array.isArray(checked) && checked.includes(text);
  return (
    <input
      type="checkbox"
      aria-label={`Done: ${text}`}
      checked={on}
      onClick={(e) => e.stopPropagation()}
      onChange={() => {
        const next = on ? checked.filter((t) => t !== text) : [...(Array.isArray(checked) ? checked : []), text];
        setValue(windowId, key, next);
        fire(node, "change", next);
      }}
    />
  );
}

const Select: R<"select"> = ({ node, props: p }) => {
  const { fire } = useRender();
  const id = useId();
  const opts = optionsOf(p.options);
  const value = useValue<string | number>(node.id, p.value ?? (p.placeholder ? "" : (opts[0]?.value ?? "")));
  const set = useSetter(node.id);
  return (
    <Labelled label={p.label} id={id}>
      <select
        id={id}
        className="bp-input"
        style={base(p)}
        value={String(value)}
        disabled={p.disabled}
        data-component-id={node.id}
        {...(!p.label ? { "aria-label": p.accessibility?.label ?? node.id } : {})}
        onChange={(e) => {
          set(e.target.value);
          fire(node, "change", e.target.value);
        }}
      >
        {p.placeholder && (
          <option value="" disabled>
            {p.placeholder}
          </option>
        )}
        {opts.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </Labelled>
  );
};

const Textarea: R<"textarea"> = ({ node, props: p }) => {
  const { fire } = useRender();
  const id = useId();
  const value = useValue<string>(node.id, p.value ?? "");
  const set = useSetter(node.id);
  return (
    <Labelled label={p.label} id={id}>
      <textarea
        id={id}
        className="bp-input bp-textarea"
        style={{ resize: p.resize, ...base(p) }}
        rows={p.rows ?? 4}
        placeholder={p.placeholder}
        disabled={p.disabled}
        value={String(value)}
        data-component-id={node.id}
        {...(!p.label ? { "aria-label": p.accessibility?.label ?? p.placeholder ?? node.id } : {})}
        onChange={(e) => {
          set(e.target.value);
          fire(node, "change", e.target.value);
        }}
        onFocus={() => fire(node, "focus")}
        onBlur={() => fire(node, "blur")}
      />
    </Labelled>
  );
};

const Image: R<"image"> = ({ node, props: p }) => {
  const [failed, setFailed] = useState(false);
  const { fire } = useRender();
  const click = useClick(node);
  if (failed) return <div className="bp-error" role="alert">Image “{p.alt}” could not be loaded from {p.src}</div>;
  return (
    <img
      className="bp-image"
      src={p.src}
      alt={p.alt}
      width={p.width}
      height={p.height}
      {...click}
      style={{ objectFit: p.fit, ...click.style, ...base(p) }}
      data-component-id={node.id}
      onLoad={() => fire(node, "load")}
      onError={() => {
        setFailed(true);
        fire(node, "error");
      }}
    />
  );
};

/** play / pause / ended, for video and audio. */
function useMediaEvents(node: FlatNode) {
  const { fire } = useRender();
  return { onPlay: () => fire(node, "play"), onPause: () => fire(node, "pause"), onEnded: () => fire(node, "ended") };
}

const Video: R<"video"> = ({ node, props: p }) => {
  const media = useMediaEvents(node);
  return (
  <video
    className="bp-media"
    src={p.src}
    poster={p.poster}
    controls={p.controls}
    autoPlay={p.autoplay}
    loop={p.loop}
    muted={p.muted ?? p.autoplay}
    width={p.width}
    height={p.height}
    aria-label={p.label ?? p.aria_label ?? p.accessibility?.label ?? "Video"}
    style={base(p)}
    data-component-id={node.id}
    {...media}
  />
  );
};

const Audio: R<"audio"> = ({ node, props: p }) => {
  const media = useMediaEvents(node);
  return (
  <audio
    className="bp-media"
    src={p.src}
    controls={p.controls}
    autoPlay={p.autoplay}
    loop={p.loop}
    aria-label={p.label ?? p.aria_label ?? p.accessibility?.label ?? "Audio"}
    style={base(p)}
    data-component-id={node.id}
    {...media}
  />
  );
};

const Canvas: R<"canvas"> = ({ node, props: p }) => {
  const ref = useRef<HTMLCanvasElement>(null);
  const points = useValue<number[] | undefined>(node.id, p.points);
  useEffect(() => {
    const g = ref.current?.getContext?.("2d");
    if (!g) return;
    g.clearRect(0, 0, p.width, p.height);
    if (!points || points.length < 2) return;
    const lo = Math.min(...points);
    const hi = Math.max(...points);
    const span = hi - lo || 1;
    g.strokeStyle = p.color ?? getComputedStyle(ref.current!).getPropertyValue("--accent") ?? "#8ab4ff";
    g.lineWidth = 2;
    g.beginPath();
    points.forEach((v, i) => {
      const x = (i / (points.length - 1)) * (p.width - 4) + 2;
      const y = p.height - 2 - ((v - lo) / span) * (p.height - 4);
      if (i === 0) g.moveTo(x, y);
      else g.lineTo(x, y);
    });
    g.stroke();
  }, [points, p.width, p.height, p.color]);
  return (
    <canvas
      ref={ref}
      className="bp-canvas"
      width={p.width}
      height={p.height}
      role="img"
      aria-label={p.label ?? p.aria_label ?? p.accessibility?.label}
      style={{ ...(p.background ? { background: p.background } : {}), ...base(p) }}
      data-component-id={node.id}
    />
  );
};

const TONE = { neutral: "default", info: "info", success: "success", warning: "warning", error: "danger" } as const;

const Badge: R<"badge"> = ({ node, props: p }) => {
  const text = useValue<unknown>(node.id, p.text);
  return (
    <span className={`bp-badge bp-badge-${p.variant ?? TONE[p.tone ?? "neutral"]}`} style={base(p)} data-component-id={node.id} {...aria(p)}>
      {String(text)}
    </span>
  );
};

const Card: R<"card"> = ({ node, props: p }) => {
  const titleId = useId();
  return (
    <article className="bp-card" style={{ padding: space(p.padding) ?? 14, ...base(p) }} data-component-id={node.id} {...(p.title ? { "aria-labelledby": titleId } : aria(p))}>
      {p.title && (
        <h3 id={titleId} className="bp-card-title">
          {p.title}
        </h3>
      )}
      {p.subtitle && <p className="bp-card-subtitle muted">{p.subtitle}</p>}
      <div className="bp-card-body">
        <Children node={node} />
      </div>
      {p.footer && <footer className="bp-card-footer muted">{p.footer}</footer>}
    </article>
  );
};

const Divider: R<"divider"> = ({ node, props: p }) => {
  const o = p.orientation ?? (p.direction === "column" ? "vertical" : "horizontal");
  return <hr className={`bp-divider bp-divider-${o}`} aria-orientation={o} style={base(p)} data-component-id={node.id} />;
};

const Modal: R<"modal"> = ({ node, props: p }) => {
  const { fire } = useRender();
  const open = useValue<boolean>(node.id, p.open ?? false);
  const set = useSetter(node.id);
  const titleId = useId();
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (open) ref.current?.querySelector<HTMLElement>("button, input, select, textarea")?.focus();
  }, [open]);
  if (!open) return null;
  const close = () => {
    set(false);
    fire(node, "close");
  };
  return (
    <div className="bp-modal-backdrop" data-component-id={node.id}>
      <div
        ref={ref}
        className="bp-modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        style={base(p)}
        onKeyDown={(e) => {
          if (e.key === "Escape" && p.dismissible) {
            e.stopPropagation();
            close();
          }
        }}
      >
        <header className="bp-modal-header">
          <h3 id={titleId}>{p.title}</h3>
          {p.dismissible && (
            <button type="button" className="bp-list-remove" aria-label="Close dialog" onClick={close}>
              ×
            </button>
          )}
        </header>
        <Children node={node} />
      </div>
    </div>
  );
};

const Tabs: R<"tabs"> = ({ node, props: raw }) => {
  // The services' `labels` + `active` index read as tabs whose ids are their positions.
  const p = { ...raw, tabs: raw.tabs ?? (raw.labels ?? []).map((label, i) => ({ id: String(i), label })) };
  const initial = raw.tabs ? (raw.value ?? p.tabs[0]!.id) : String(raw.active ?? 0);
  const { fire } = useRender();
  const active = useValue<string>(node.id, initial);
  const set = useSetter(node.id);
  const base_ = useId();
  const index = Math.max(0, p.tabs.findIndex((t) => t.id === active));
  const choose = (i: number) => {
    const n = (i + p.tabs.length) % p.tabs.length;
    const t = p.tabs[n]!;
    set(t.id);
    fire(node, "change", raw.tabs ? t.id : n);
    document.getElementById(`${base_}-tab-${t.id}`)?.focus();
  };
  // The tab's panel is the child with the tab's id, else the child at its position.
  const panelChild = (i: number) => {
    const t = p.tabs[i]!;
    return node.children.includes(t.id) ? t.id : node.children[i];
  };
  const child = panelChild(index);
  return (
    <div className="bp-tabs" style={base(p)} data-component-id={node.id}>
      <div role="tablist" className="bp-tablist" {...aria(p)}>
        {p.tabs.map((t, i) => (
          <button
            key={t.id}
            id={`${base_}-tab-${t.id}`}
            type="button"
            role="tab"
            aria-selected={i === index}
            aria-controls={`${base_}-panel`}
            tabIndex={i === index ? 0 : -1}
            className={`bp-tab${i === index ? " active" : ""}`}
            onClick={() => choose(i)}
            onKeyDown={(e) => {
              if (e.key === "ArrowRight") choose(index + 1);
              else if (e.key === "ArrowLeft") choose(index - 1);
              else return;
              e.preventDefault();
            }}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div id={`${base_}-panel`} role="tabpanel" aria-labelledby={`${base_}-tab-${p.tabs[index]!.id}`} className="bp-tabpanel">
        {child ? <Node key={child} id={child} /> : <p className="muted">Empty tab.</p>}
      </div>
    </div>
  );
};

const AppShortcut: R<"app_shortcut"> = ({ node, props: p }) => {
  const { openApp, fire } = useRender();
  const name = p.label ?? p.app_id;
  return (
    <button
      type="button"
      className="bp-shortcut"
      style={base(p)}
      data-component-id={node.id}
      {...aria(p)}
      onClick={() => {
        if (node.on_event.click) fire(node, "click", p.app_id);
        else openApp(p.app_id, name);
      }}
    >
      <AppIcon icon={p.icon ?? p.app_id} id={p.app_id} name={name} size={28} />
      <span>{name}</span>
    </button>
  );
};

/** An empty tab stop beside a frame that hands the focus on as it leaves the frame (shell/focus.ts). */
const FrameGuard = ({ side }: { side: "before" | "after" }) => (
  <span className="focus-guard" tabIndex={0} {...{ [FOCUS_GUARD]: side }} onFocus={(e) => leaveFrame(e.currentTarget, e.relatedTarget)} />
);

const Iframe: R<"iframe"> = ({ node, props: p }) => (
  <>
    <FrameGuard side="before" />
    <iframe
      className="bp-iframe"
      src={p.src}
      title={p.title}
      width={p.width ?? "100%"}
      height={p.height ?? 320}
      // No allow-same-origin: framed content can never reach the desktop's cookie or API.
      sandbox="allow-scripts allow-forms allow-popups"
      referrerPolicy="no-referrer"
      style={base(p)}
      data-component-id={node.id}
    />
    <FrameGuard side="after" />
  </>
);

/** A running progress bar's clock: `step` every `interval_ms`, `tick` each time, `complete` at max. */
function useProgressClock(node: FlatNode, initial: number, max: number, running: boolean, interval: number, step: number) {
  const { windowId, fire } = useRender();
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => {
      const now = Number(getValue(windowId, node.id) ?? initial);
      const next = Math.min(max, now + step);
      setValue(windowId, node.id, next);
      if (node.on_event.tick) fire(node, "tick", next);
      if (next >= max) {
        setValue(windowId, `$running.${node.id}`, false);
        if (node.on_event.complete) fire(node, "complete", next);
      }
    }, interval);
    return () => clearInterval(timer);
  }, [windowId, node, fire, initial, max, running, interval, step]);
}

const Progress: R<"progress"> = ({ node, props: p }) => {
  const value = useValue<number>(node.id, p.value);
  const max = Number(useValue<number>(`$max.${node.id}`, p.max)) || p.max;
  const running = useValue<boolean>(`$running.${node.id}`, p.running ?? false) === true;
  useProgressClock(node, p.value, max, running, p.interval_ms ?? 1000, p.step ?? 1);
  const pct = Math.max(0, Math.min(100, (Number(value) / max) * 100));
  return (
    <div className="bp-field" style={base(p)} data-component-id={node.id}>
      {p.label && <span className="bp-progress-label">{p.label}</span>}
      <div
        className={`bp-progress bp-progress-${p.variant ?? "default"}`}
        role="progressbar"
        aria-label={p.label ?? p.accessibility?.label ?? node.id}
        aria-valuemin={0}
        aria-valuemax={max}
        aria-valuenow={p.indeterminate ? undefined : Number(value)}
      >
        <span className={p.indeterminate ? "bp-indeterminate" : undefined} style={{ width: p.indeterminate ? "30%" : `${pct}%` }} />
      </div>
    </div>
  );
};

export const renderers: { [K in BpType]: R<K> } = {
  button: Button,
  input: Input,
  text: Text,
  checkbox: Checkbox,
  radio: Radio,
  slider: Slider,
  container: Container,
  grid: Grid,
  list: List,
  select: Select,
  textarea: Textarea,
  image: Image,
  video: Video,
  audio: Audio,
  canvas: Canvas,
  badge: Badge,
  card: Card,
  divider: Divider,
  modal: Modal,
  tabs: Tabs,
  app_shortcut: AppShortcut,
  iframe: Iframe,
  progress: Progress,
};
