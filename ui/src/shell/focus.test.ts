import { afterEach, describe, expect, it } from "vitest";
import { cycleFocus, focusInto, nextStop, rememberFocus, roveIndex, tabbables } from "./focus";

function mount(html: string): HTMLElement {
  const root = document.createElement("div");
  root.innerHTML = html;
  document.body.append(root);
  return root;
}

afterEach(() => {
  document.body.innerHTML = "";
});

describe("tab stops", () => {
  it("skip what is disabled, hidden, inert or taken out of the tab order", () => {
    const root = mount(`
      <button id="a">a</button>
      <button id="b" disabled>b</button>
      <div hidden><button id="c">c</button></div>
      <div inert><input id="d"></div>
      <span id="e" tabindex="-1">e</span>
      <span id="f" tabindex="0">f</span>
      <input id="g" type="hidden">
      <input id="r1" type="radio" name="r"><input id="r2" type="radio" name="r" checked>
      <textarea id="h"></textarea>`);
    expect(tabbables(root).map((el) => el.id)).toEqual(["a", "f", "r2", "h"]);
  });

  it("wrap at both ends", () => {
    expect(nextStop([1, 2, 3], 3, false)).toBe(1);
    expect(nextStop([1, 2, 3], 1, true)).toBe(3);
    expect(nextStop([1, 2, 3], 2, false)).toBe(3);
    expect(nextStop([1, 2, 3], null, false)).toBe(1);
    expect(nextStop([1, 2, 3], null, true)).toBe(3);
    expect(nextStop([], null, false)).toBeNull();
  });
});

describe("a window as a focus scope", () => {
  const html = `
    <section id="win" tabindex="-1"><button id="close">x</button>
      <div class="window-content" tabindex="0"><input id="field"><button id="ok">OK</button></div>
    </section>
    <nav><button id="dock">dock</button></nav>`;

  it("Tab from the last control wraps to the first, Shift+Tab from the first to the last", () => {
    const root = mount(html);
    const win = root.querySelector<HTMLElement>("#win")!;
    root.querySelector<HTMLElement>("#ok")!.focus();
    expect(cycleFocus(win, false)).toBe(true);
    expect(document.activeElement?.id).toBe("close");
    expect(cycleFocus(win, true)).toBe(true);
    expect(document.activeElement?.id).toBe("ok");
    // Round the whole window: never the dock.
    const seen: string[] = [];
    for (let i = 0; i < 8; i++) {
      cycleFocus(win, false);
      seen.push(document.activeElement!.id || document.activeElement!.className);
    }
    expect(seen).not.toContain("dock");
    expect(new Set(seen)).toEqual(new Set(["close", "window-content", "field", "ok"]));
  });

  it("from the window itself, Tab enters at its first control", () => {
    const root = mount(html);
    const win = root.querySelector<HTMLElement>("#win")!;
    win.focus();
    cycleFocus(win, false);
    expect(document.activeElement?.id).toBe("close");
    win.focus();
    cycleFocus(win, true);
    expect(document.activeElement?.id).toBe("ok");
  });

  it("coming back lands on the control that had the focus, else the content's first", () => {
    const root = mount(html);
    const win = root.querySelector<HTMLElement>("#win")!;
    expect(focusInto(win)).toBe(true);
    expect(document.activeElement?.id).toBe("field");
    rememberFocus(win, root.querySelector("#ok"));
    root.querySelector<HTMLElement>("#dock")!.focus();
    focusInto(win);
    expect(document.activeElement?.id).toBe("ok");
  });
});

describe("roving in the dock", () => {
  it("moves with the arrows and wraps; Home and End go to the ends; other keys do nothing", () => {
    expect(roveIndex(4, 3, "ArrowRight")).toBe(0);
    expect(roveIndex(4, 0, "ArrowLeft")).toBe(3);
    expect(roveIndex(4, 1, "ArrowDown")).toBe(2);
    expect(roveIndex(4, 2, "Home")).toBe(0);
    expect(roveIndex(4, 0, "End")).toBe(3);
    expect(roveIndex(4, 0, "a")).toBeNull();
    expect(roveIndex(0, 0, "ArrowRight")).toBeNull();
  });
});
