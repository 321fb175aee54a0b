import { afterEach, describe, expect, it } from "vitest";
import { cycleFocus, focusInto, leaveFrame, nextStop, noteFocus, recoverFocus, rememberFocus, roveIndex, tabbables } from "./focus";
import { FRAME_ACTIONS, frameKey } from "./frameKeys";

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

describe("a framed page between its focus guards", () => {
  const html = `
    <section id="win" class="app-window" tabindex="-1"><button id="close">x</button>
      <div class="window-content" tabindex="0"><button id="before">before</button>
        <span id="g1" tabindex="0" data-focus-guard="before"></span><iframe id="frame" title="page"></iframe><span id="g2" tabindex="0" data-focus-guard="after"></span>
      </div>
    </section>
    <nav><button id="dock">dock</button></nav>`;
  const parts = () => {
    const root = mount(html);
    const $ = (id: string) => root.querySelector<HTMLElement>(`#${id}`)!;
    return { win: $("win"), $ };
  };

  it("the guards are no stops of the window's own cycle; the frame is", () => {
    const { win } = parts();
    expect(tabbables(win).map((el) => el.id || el.className)).toEqual(["close", "window-content", "before", "frame"]);
  });

  it("Tab into the frame focuses the guard on the near side and leaves the key to the browser", () => {
    const { win, $ } = parts();
    $("before").focus();
    expect(cycleFocus(win, false)).toBe(false);
    expect(document.activeElement?.id).toBe("g1");
    $("close").focus();
    expect(cycleFocus(win, true)).toBe(false);
    expect(document.activeElement?.id).toBe("g2");
  });

  it("a guard the window focused from its own control stays put (the browser's Tab goes on into the frame)", () => {
    const { $ } = parts();
    $("g1").focus();
    leaveFrame($("g1"), $("before"));
    expect(document.activeElement?.id).toBe("g1");
  });

  it("out of the frame, the focus goes on to the window's next stop (wrapping), or back to the previous one", () => {
    const { $ } = parts();
    for (const from of [$("frame"), null]) {
      $("g2").focus();
      leaveFrame($("g2"), from);
      expect(document.activeElement?.id).toBe("close");
      $("g1").focus();
      leaveFrame($("g1"), from);
      expect(document.activeElement?.id).toBe("before");
    }
    // Through a frame with nothing to focus: from one guard to the other.
    $("g2").focus();
    leaveFrame($("g2"), $("g1"));
    expect(document.activeElement?.id).toBe("close");
  });

  it("a guard is never remembered as where the window's focus was; the frame is, by noteFocus", () => {
    const { win, $ } = parts();
    rememberFocus(win, $("before"));
    rememberFocus(win, $("g1"));
    $("dock").focus();
    focusInto(win);
    expect(document.activeElement?.id).toBe("before");
    $("frame").focus();
    noteFocus();
    $("dock").focus();
    focusInto(win);
    expect(document.activeElement?.id).toBe("frame");
  });
});

describe("a control that goes away with the focus", () => {
  const win = (cls = "app-window focused") =>
    mount(`<section class="${cls}" tabindex="-1"><button id="a">a</button><button id="start">Start</button><button id="reset">Reset</button></section>`).querySelector<HTMLElement>("section")!;

  it("hands the focus to the stop now at its place in the window, not to the page", () => {
    const w = win();
    const start = w.querySelector<HTMLElement>("#start")!;
    start.focus();
    rememberFocus(w, start);
    // Start turns into Pause: the focused button is replaced.
    const pause = document.createElement("button");
    pause.id = "pause";
    start.replaceWith(pause);
    if (document.activeElement === start) start.blur();
    expect(recoverFocus(w)).toBe(true);
    expect(document.activeElement?.id).toBe("pause");
  });

  it("and to the last stop when it was the last, or disabled in place", () => {
    const w = win();
    const reset = w.querySelector<HTMLButtonElement>("#reset")!;
    reset.focus();
    rememberFocus(w, reset);
    reset.disabled = true;
    expect(recoverFocus(w)).toBe(true);
    expect(document.activeElement?.id).toBe("start");
  });

  it("leaves the focus alone when it is somewhere, the control is still there, or the window is not the focused one", () => {
    const w = win();
    const a = w.querySelector<HTMLElement>("#a")!;
    a.focus();
    rememberFocus(w, a);
    (document.activeElement as HTMLElement).blur();
    // The user clicked the wallpaper: the control is still there.
    expect(recoverFocus(w)).toBe(false);
    const back = win("app-window");
    const b = back.querySelector<HTMLElement>("#start")!;
    b.focus();
    rememberFocus(back, b);
    b.remove();
    (document.activeElement as HTMLElement | null)?.blur?.();
    expect(recoverFocus(back)).toBe(false);
  });
});

describe("keys a framed page forwards", () => {
  const key = { type: "agentos:key", phase: "keydown", key: "F6", altKey: false, ctrlKey: false, metaKey: false, shiftKey: false };

  it("are taken only from the frame that has the focus, inside a window, and only well-formed", async () => {
    const root = mount(`<section class="app-window"><iframe id="a" title="a"></iframe><iframe id="b" title="b"></iframe></section><iframe id="out" title="out"></iframe>`);
    const frame = (id: string) => root.querySelector<HTMLIFrameElement>(`#${id}`)!;
    // The DOM of the tests loads no frames: each gets a window of its own to be told apart by.
    for (const id of ["a", "b", "out"]) Object.defineProperty(frame(id), "contentWindow", { value: { id } as unknown as Window });
    const a = frame("a");
    a.focus();
    expect(document.activeElement).toBe(a);
    expect(await frameKey({ source: a.contentWindow, data: key })).toEqual(key);
    // Another frame (not focused), no source, a foreign shape or an extra field: nothing.
    expect(await frameKey({ source: frame("b").contentWindow, data: key })).toBeNull();
    expect(await frameKey({ source: null, data: key })).toBeNull();
    expect(await frameKey({ source: a.contentWindow, data: { ...key, phase: "press" } })).toBeNull();
    expect(await frameKey({ source: a.contentWindow, data: { ...key, run: "rm -rf /" } })).toBeNull();
    expect(await frameKey({ source: a.contentWindow, data: "F6" })).toBeNull();
    // A frame outside any window, even focused.
    frame("out").focus();
    expect(await frameKey({ source: frame("out").contentWindow, data: key })).toBeNull();
  });

  it("may move between windows and regions, nothing else", () => {
    expect([...FRAME_ACTIONS].sort()).toEqual(["menubar", "region-next", "region-prev", "switch-next", "switch-prev"]);
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
