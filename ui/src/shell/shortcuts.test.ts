import { describe, expect, it } from "vitest";
import { matchShortcut } from "./shortcuts";
import { closeSwitcher, initialShell, stepSwitcher } from "./store";

const key = (k: string, mods: Partial<{ ctrl: boolean; meta: boolean; alt: boolean; shift: boolean }> = {}) => ({
  key: k,
  ctrlKey: !!mods.ctrl,
  metaKey: !!mods.meta,
  altKey: !!mods.alt,
  shiftKey: !!mods.shift,
});

describe("matchShortcut", () => {
  it("maps Ctrl and ⌘ alike", () => {
    expect(matchShortcut(key("k", { ctrl: true }))).toBe("launcher");
    expect(matchShortcut(key("F10"))).toBe("menubar");
    expect(matchShortcut(key("F10", { ctrl: true }))).toBeNull();
    expect(matchShortcut(key("k", { meta: true }))).toBe("launcher");
    expect(matchShortcut(key("K", { meta: true }))).toBe("launcher");
    expect(matchShortcut(key("w", { ctrl: true }))).toBe("close");
    expect(matchShortcut(key("m", { meta: true }))).toBe("minimize");
  });
  it("maps Alt+Tab and Alt+Shift+Tab", () => {
    expect(matchShortcut(key("Tab", { alt: true }))).toBe("switch-next");
    expect(matchShortcut(key("Tab", { alt: true, shift: true }))).toBe("switch-prev");
  });
  it("maps F6, Ctrl+F6 and Shift+F6 to the regions", () => {
    expect(matchShortcut(key("F6"))).toBe("region-next");
    expect(matchShortcut(key("F6", { ctrl: true }))).toBe("region-next");
    expect(matchShortcut(key("F6", { shift: true }))).toBe("region-prev");
    expect(matchShortcut(key("F6", { alt: true }))).toBeNull();
  });
  it("ignores plain keys and other combinations", () => {
    expect(matchShortcut(key("k"))).toBeNull();
    expect(matchShortcut(key("Tab"))).toBeNull();
    expect(matchShortcut(key("k", { ctrl: true, shift: true }))).toBeNull();
    expect(matchShortcut(key("w", { ctrl: true, alt: true }))).toBeNull();
    expect(matchShortcut(key("Tab", { alt: true, ctrl: true }))).toBeNull();
  });
});

describe("window switcher", () => {
  it("opens on the second most recent window and wraps both ways", () => {
    let s = stepSwitcher(["a", "b", "c"], 1)(initialShell);
    expect(s.switcher).toEqual({ ids: ["a", "b", "c"], index: 1 });
    s = stepSwitcher([], 1)(stepSwitcher([], 1)(s));
    expect(s.switcher!.index).toBe(0);
    s = stepSwitcher([], -1)(s);
    expect(s.switcher!.index).toBe(2);
    expect(closeSwitcher(s).switcher).toBeNull();
    expect(stepSwitcher([], 1)(initialShell)).toBe(initialShell);
    expect(stepSwitcher(["a", "b"], -1)(initialShell).switcher!.index).toBe(1);
  });
});
