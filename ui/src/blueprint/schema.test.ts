import { describe, expect, it } from "vitest";
import { checkComponent, COMPONENT_TYPES, type ComponentType } from "./schema";

/** One valid and one invalid props object per component, with what the error must name. */
const cases: Record<ComponentType, { valid: Record<string, unknown>; invalid: Record<string, unknown>; reason: RegExp }> = {
  button: { valid: { text: "OK", variant: "primary", size: "small" }, invalid: { text: 1 }, reason: /"text"/ },
  input: { valid: { label: "Name", placeholder: "Ada", type: "email" }, invalid: { type: "date" }, reason: /"type"/ },
  text: { valid: { content: "Hi", variant: "h1", align: "center" }, invalid: { content: "Hi", variant: "huge" }, reason: /"variant"/ },
  checkbox: { valid: { label: "Agree", checked: true }, invalid: { label: 3 }, reason: /"label"/ },
  radio: { valid: { label: "Size", options: ["s", { value: "m", label: "Medium" }] }, invalid: { options: [] }, reason: /"options"/ },
  slider: { valid: { min: 0, max: 10, step: 1, value: 3 }, invalid: { min: 5, max: 1 }, reason: /max must be greater than min/ },
  container: { valid: { layout: "horizontal", gap: 8, padding: "small", justify: "between" }, invalid: { layout: "diagonal" }, reason: /"layout"/ },
  grid: { valid: { columns: 4, gap: "small" }, invalid: { columns: 13 }, reason: /"columns"/ },
  list: { valid: { items: ["a", 2, { id: 3, text: "c" }], removable: true }, invalid: { items: [{ label: "x" }] }, reason: /"items/ },
  select: { valid: { options: ["a", "b"], value: "a" }, invalid: { options: "a,b" }, reason: /"options"/ },
  textarea: { valid: { rows: 4, resize: "vertical" }, invalid: { rows: 0 }, reason: /"rows"/ },
  image: { valid: { src: "/logo.png", alt: "Logo" }, invalid: { src: "javascript:alert(1)", alt: "x" }, reason: /"src".*http/ },
  video: { valid: { src: "https://example.com/v.mp4" }, invalid: { src: "file:///etc/passwd" }, reason: /"src"/ },
  audio: { valid: { src: "/a.ogg", loop: true }, invalid: { src: "/a.ogg", volume: 2 }, reason: /unknown prop "volume"/ },
  canvas: { valid: { width: 100, height: 50, label: "Chart", points: [1, 2] }, invalid: { width: 100, height: 50 }, reason: /"label"/ },
  badge: { valid: { text: "new", variant: "success" }, invalid: { text: "new", variant: "rainbow" }, reason: /"variant"/ },
  card: { valid: { title: "Card", subtitle: "sub" }, invalid: { title: 5 }, reason: /"title"/ },
  divider: { valid: { orientation: "vertical" }, invalid: { orientation: "diagonal" }, reason: /"orientation"/ },
  modal: { valid: { title: "Sure?", open: true }, invalid: { open: true }, reason: /"title"/ },
  tabs: { valid: { tabs: [{ id: "a", label: "A" }] }, invalid: { tabs: [] }, reason: /"tabs"/ },
  app_shortcut: { valid: { app_id: "calculator", label: "Calc" }, invalid: { app_id: "" }, reason: /"app_id"/ },
  iframe: { valid: { src: "https://example.com", title: "Example" }, invalid: { src: "/api/apps", title: "x" }, reason: /http\(s\)/ },
  progress: { valid: { value: 40, max: 80, label: "Done" }, invalid: { value: -1 }, reason: /"value"/ },
};

describe("component schemas", () => {
  it("cover the 23 components of the seed", () => {
    expect(COMPONENT_TYPES.sort()).toEqual(Object.keys(cases).sort());
    expect(COMPONENT_TYPES).toHaveLength(23);
  });

  for (const type of Object.keys(cases) as ComponentType[]) {
    it(`${type}: accepts valid props, rejects invalid ones with a reason`, () => {
      const c = cases[type];
      const ok = checkComponent(type, c.valid);
      expect(ok.ok, JSON.stringify(ok)).toBe(true);
      const bad = checkComponent(type, c.invalid);
      expect(bad.ok).toBe(false);
      if (!bad.ok) expect(bad.reason).toMatch(c.reason);
      // Shared props are accepted everywhere; unknown ones nowhere.
      expect(checkComponent(type, { ...c.valid, style: { color: "red" }, accessibility: { label: "x" }, weight: 1 }).ok).toBe(true);
      const typo = checkComponent(type, { ...c.valid, colour: "red" });
      expect(typo.ok).toBe(false);
      if (!typo.ok) expect(typo.reason).toContain('unknown prop "colour"');
    });
  }

  it("names an unknown component type", () => {
    expect(checkComponent("sparkline", {})).toEqual({ ok: false, reason: 'Unknown component type "sparkline"' });
  });
});
