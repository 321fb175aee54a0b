import type { ReactNode } from "react";

/**
 * App icons: a coloured tile with a line glyph for the apps we know, else the
 * app's own icon (usually an emoji) when this browser can draw emoji, else the
 * app name's initial. No icon font or image files.
 */
const glyphs: Record<string, ReactNode> = {
  files: <path d="M4 7a2 2 0 0 1 2-2h4l2 2h6a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2z" />,
  terminal: (
    <>
      <rect x="3" y="5" width="18" height="14" rx="2" />
      <path d="M7 10l3 2-3 2M12 15h5" />
    </>
  ),
  tasks: <path d="M4 18V11M9 18V6M14 18v-9M19 18v-5" />,
  monitor: <path d="M3 12h4l2-5 4 10 2-5h6" />,
  store: (
    <>
      <path d="M5 8h14l-1 11H6z" />
      <path d="M9 8a3 3 0 0 1 6 0" />
    </>
  ),
  settings: (
    <>
      <circle cx="12" cy="12" r="3" />
      <path d="M12 3v3M12 18v3M3 12h3M18 12h3M5.6 5.6l2.1 2.1M16.3 16.3l2.1 2.1M5.6 18.4l2.1-2.1M16.3 7.7l2.1-2.1" />
    </>
  ),
  calculator: (
    <>
      <rect x="6" y="3" width="12" height="18" rx="2" />
      <path d="M9 7h6M9 12h.01M12 12h.01M15 12h.01M9 16h.01M12 16h.01M15 16h.01" />
    </>
  ),
  notes: <path d="M7 4h8l3 3v13H7zM10 10h5M10 14h5" />,
  todo: <path d="M5 7l2 2 3-3M5 15l2 2 3-3M13 8h6M13 16h6" />,
  timer: (
    <>
      <circle cx="12" cy="13" r="7" />
      <path d="M12 9v4l2 2M10 3h4" />
    </>
  ),
  hub: <path d="M4 4h7v7H4zM13 4h7v7h-7zM4 13h7v7H4zM13 13h7v7h-7z" />,
  shell: <path d="M5 8l4 4-4 4M11 17h8" />,
  sparkles: <path d="M12 3l1.8 5.2L19 10l-5.2 1.8L12 17l-1.8-5.2L5 10l5.2-1.8z" />,
  info: <path d="M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM12 11v6M12 7.5v.5" />,
};

const tints: Record<string, [string, string]> = {
  files: ["#60a5fa", "#2563eb"],
  terminal: ["#374151", "#111827"],
  shell: ["#374151", "#111827"],
  tasks: ["#34d399", "#059669"],
  monitor: ["#f472b6", "#be185d"],
  store: ["#38bdf8", "#6366f1"],
  settings: ["#9ca3af", "#4b5563"],
  calculator: ["#fb923c", "#ea580c"],
  notes: ["#fde047", "#ca8a04"],
  todo: ["#4ade80", "#16a34a"],
  timer: ["#f87171", "#dc2626"],
  hub: ["#a78bfa", "#7c3aed"],
  sparkles: ["#c084fc", "#6366f1"],
  info: ["#94a3b8", "#475569"],
};

let emojiSupport: boolean | null = null;
/** Whether the browser has a colour emoji font (a glyph drawn with colour, not a grey box). */
function canDrawEmoji(): boolean {
  if (emojiSupport !== null) return emojiSupport;
  emojiSupport = false;
  try {
    const c = document.createElement("canvas");
    c.width = c.height = 16;
    const g = c.getContext("2d");
    if (g) {
      g.textBaseline = "top";
      g.font = "14px sans-serif";
      g.fillText("\u{1F600}", 0, 0);
      const d = g.getImageData(0, 0, 16, 16).data;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3]! > 0 && (d[i] !== d[i + 1] || d[i + 1] !== d[i + 2])) {
          emojiSupport = true;
          break;
        }
      }
    }
  } catch {
    emojiSupport = false;
  }
  return emojiSupport;
}

function hashTint(s: string): [string, string] {
  let h = 0;
  for (const ch of s) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  const hue = h % 360;
  return [`hsl(${hue} 70% 62%)`, `hsl(${(hue + 30) % 360} 65% 42%)`];
}

export function AppIcon({ icon, name, id, size = 40 }: { icon: string; name: string; id?: string; size?: number }) {
  const key = [icon, id, name.toLowerCase()].find((k): k is string => !!k && k in glyphs) ?? null;
  const [a, b] = (key && tints[key]) || hashTint(name);
  let inner: ReactNode;
  if (key) {
    inner = (
      <svg viewBox="0 0 24 24" width={size * 0.58} height={size * 0.58} fill="none" stroke="white" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round">
        {glyphs[key]}
      </svg>
    );
  } else if (icon && !/^[\w-]+$/.test(icon) && canDrawEmoji()) {
    inner = <span style={{ fontSize: size * 0.55, lineHeight: 1 }}>{icon}</span>;
  } else {
    inner = <span style={{ fontSize: size * 0.45, fontWeight: 700, color: "white" }}>{(name.trim()[0] ?? "?").toUpperCase()}</span>;
  }
  return (
    <span
      className="app-icon"
      aria-hidden="true"
      style={{ width: size, height: size, borderRadius: size * 0.24, background: `linear-gradient(145deg, ${a}, ${b})` }}
    >
      {inner}
    </span>
  );
}
