import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { App } from "../App";
import { apiError, status } from "../api/mock";
import { openNative } from "../apps/launch";
import { mockApi } from "../test/api-fixtures";
import { useWm } from "../wm/store";

function renderDesktop(api = mockApi()) {
  vi.stubGlobal("fetch", api.fetch);
  render(<App />);
  return api;
}

describe("the desktop shell", () => {
  it("opens the launcher with Ctrl+K, searches by name and category, and launches by keyboard", async () => {
    const api = renderDesktop();
    fireEvent.keyDown(window, { key: "k", ctrlKey: true });
    const box = await screen.findByRole("combobox", { name: "Search apps" });
    expect(document.activeElement).toBe(box);
    const list = screen.getByRole("listbox", { name: "Apps" });
    await within(list).findByRole("option", { name: /Calculator/ });

    fireEvent.change(box, { target: { value: "calc" } });
    const first = within(list).getAllByRole("option")[0]!;
    expect(first.textContent).toContain("Calculator");
    expect(first.getAttribute("aria-selected")).toBe("true");
    expect(box.getAttribute("aria-activedescendant")).toBe(first.id);

    fireEvent.change(box, { target: { value: "productivity" } });
    const names = within(list).getAllByRole("option").map((o) => o.textContent);
    expect(names.some((n) => n?.includes("Notes"))).toBe(true);
    expect(names.some((n) => n?.includes("Todo List"))).toBe(true);

    fireEvent.change(box, { target: { value: "calc" } });
    fireEvent.keyDown(box, { key: "Enter" });
    expect(screen.queryByRole("dialog", { name: "Launcher" })).toBeNull();
    await screen.findByRole("dialog", { name: "Calculator" });
    expect(api.calls.some((c) => c.method === "POST" && c.path === "/api/registry/apps/calculator/launch")).toBe(true);
    expect(screen.getByTestId("menubar-app").textContent).toBe("Calculator");
  });

  it("offers to generate an app for a sentence nothing matches", async () => {
    renderDesktop();
    fireEvent.keyDown(window, { key: "k", metaKey: true });
    const box = await screen.findByRole("combobox", { name: "Search apps" });
    fireEvent.change(box, { target: { value: "a pomodoro timer with breaks" } });
    const options = screen.getAllByRole("option");
    expect(options).toHaveLength(1);
    expect(options[0]!.textContent).toContain("Generate “a pomodoro timer with breaks”");
    fireEvent.keyDown(box, { key: "Escape" });
    expect(screen.queryByRole("dialog", { name: "Launcher" })).toBeNull();
  });

  it("minimises with Ctrl+M, restores from the dock, closes with Ctrl+W", async () => {
    renderDesktop();
    act(() => {
      openNative("settings");
    });
    const win = await screen.findByRole("dialog", { name: "Settings" });
    const dockButton = within(screen.getByRole("navigation", { name: "Dock" })).getByRole("button", { name: "Settings, running" });

    fireEvent.keyDown(window, { key: "m", ctrlKey: true });
    expect(win.hidden).toBe(true);
    expect(screen.queryByRole("dialog", { name: "Settings" })).toBeNull();

    fireEvent.click(dockButton);
    expect(screen.getByRole("dialog", { name: "Settings" })).toBe(win);

    fireEvent.keyDown(window, { key: "w", ctrlKey: true });
    expect(screen.queryByRole("dialog", { name: "Settings" })).toBeNull();
    expect(within(screen.getByRole("navigation", { name: "Dock" })).getByRole("button", { name: "Settings" })).toBeTruthy();
  });

  it("cycles windows with Alt+Tab and focuses the choice on Alt release", async () => {
    renderDesktop();
    act(() => {
      openNative("settings");
      openNative("appstore");
      openNative("taskmanager");
    });
    await screen.findByRole("dialog", { name: "Task Manager" });
    fireEvent.keyDown(window, { key: "Tab", altKey: true });
    const overlay = screen.getByRole("dialog", { name: "Switch windows" });
    const selected = () => within(overlay).getAllByRole("option").find((o) => o.getAttribute("aria-selected") === "true")?.textContent;
    expect(selected()).toContain("App Store");
    fireEvent.keyDown(window, { key: "Tab", altKey: true });
    expect(selected()).toContain("Settings");
    fireEvent.keyUp(window, { key: "Alt" });
    expect(screen.queryByRole("dialog", { name: "Switch windows" })).toBeNull();
    const wm = useWm.getState();
    expect(wm.windows[wm.focused!]!.title).toBe("Settings");
  });

  it("window buttons minimise, maximise and restore, and close", async () => {
    renderDesktop();
    act(() => {
      openNative("settings");
    });
    const win = await screen.findByRole("dialog", { name: "Settings" });
    fireEvent.click(within(win).getByRole("button", { name: "Maximize" }));
    expect(win.dataset.mode).toBe("maximized");
    fireEvent.click(within(win).getByRole("button", { name: "Restore" }));
    expect(win.dataset.mode).toBe("normal");
    fireEvent.click(within(win).getByRole("button", { name: "Close" }));
    expect(screen.queryByRole("dialog", { name: "Settings" })).toBeNull();
  });

  it("says how to sign in when the API answers 401", async () => {
    const unauth = apiError(401, "unauthenticated", "no session cookie");
    // Every API route refuses a page without a session, as the server does.
    renderDesktop(mockApi({ "GET /api/apps": unauth, "GET /api/registry/apps": unauth, "GET /api/settings": unauth }));
    const notice = await screen.findByRole("alertdialog", { name: "Sign in to AgentOS" });
    expect(notice.textContent).toContain("login URL printed by agentos up");
    expect(notice.textContent).toContain("no session cookie");
    // The rest of the desktop stays: menu bar, dock, system status.
    expect(screen.getByTestId("menubar-clock")).toBeTruthy();
    expect(screen.getByTestId("dock")).toBeTruthy();
    await waitFor(() => expect(screen.getByTestId("system-status").dataset.phase).toBe("ok"));
  });

  it("signs in with a user name and password from the notice", async () => {
    let signedIn = false;
    const unauth = apiError(401, "unauthenticated", "no session cookie");
    renderDesktop(
      mockApi({
        "GET /api/apps": () => (signedIn ? { apps: [] } : unauth),
        // The start-up reads go out together: the server refuses each without a session.
        "GET /api/registry/apps": () => (signedIn ? { apps: [] } : unauth),
        "GET /api/settings": () => (signedIn ? apiError(404, "not_found", "no settings yet") : unauth),
        "POST /api/auth/login": ({ body }: { body: unknown }) => {
          const b = body as { username: string; password: string };
          if (b.password !== "right") return apiError(401, "bad_credentials", "wrong user name or password");
          signedIn = true;
          return { user: b.username };
        },
      }),
    );
    const notice = await screen.findByRole("alertdialog", { name: "Sign in to AgentOS" });
    fireEvent.change(within(notice).getByLabelText("User name"), { target: { value: "ada" } });
    fireEvent.change(within(notice).getByLabelText("Password"), { target: { value: "wrong" } });
    fireEvent.click(within(notice).getByRole("button", { name: "Sign in" }));
    expect((await within(notice).findByRole("alert")).textContent).toContain("wrong user name or password");
    fireEvent.change(within(notice).getByLabelText("Password"), { target: { value: "right" } });
    fireEvent.click(within(notice).getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(screen.queryByRole("alertdialog", { name: "Sign in to AgentOS" })).toBeNull());
  });

  it("signs out from the system menu by keyboard: last session saved, apps closed, logout, settings sync stopped, stores cleared, sign-in shown", async () => {
    const server = { appearance: { theme: "light", accent: "#86efac", wallpaper: "forest" }, restore_on_login: false, scheduler: { policy: "fair", freeze_minimised: false }, default_grants: ["time"], llm: { url: null, model: null } };
    const api = renderDesktop(
      mockApi({
        "GET /api/settings": server,
        "PUT /api/settings": ({ body }: { body: unknown }) => body,
        "POST /api/auth/logout": status(204),
        "POST /api/sessions/save-default": { id: "default", name: "Last session", saved_unix_ms: 1, apps: 1 },
        "DELETE /api/apps": { closed: ["app-1"] },
      }),
    );
    const { useSettings } = await import("../apps/settings/settingsStore");
    const { useSettingsSync } = await import("../apps/settings/serverSettings");
    await waitFor(() => expect(useSettingsSync.getState().phase).toBe("loaded"));
    expect(useSettings.getState().theme).toBe("light");
    act(() => {
      openNative("settings");
    });
    await screen.findByRole("dialog", { name: "Settings" });

    const menu = screen.getByRole("button", { name: "AgentOS menu" });
    menu.focus();
    fireEvent.keyDown(menu, { key: "ArrowDown" });
    const items = await screen.findByRole("menu", { name: "AgentOS menu" });
    const signOut = within(items).getByRole("menuitem", { name: "Sign out" });
    fireEvent.keyDown(items, { key: "End" });
    expect(document.activeElement).toBe(signOut);
    fireEvent.keyDown(signOut, { key: "Enter" });

    const signIn = await screen.findByRole("alertdialog", { name: "Sign in to AgentOS" });
    expect(signIn.textContent).toContain("You signed out.");
    await waitFor(() => expect(document.activeElement).toBe(within(signIn).getByLabelText("User name")));
    // In this order: the workspace saved as the last session, every app closed (their
    // processes killed by the server), then the session ended.
    const at = (method: string, path: string) => api.calls.findIndex((c) => c.method === method && c.path === path);
    const saved = at("POST", "/api/sessions/save-default");
    const closed = at("DELETE", "/api/apps");
    const loggedOut = at("POST", "/api/auth/logout");
    expect(saved).toBeGreaterThanOrEqual(0);
    expect(closed).toBeGreaterThan(saved);
    expect(loggedOut).toBeGreaterThan(closed);
    expect(screen.queryByRole("dialog", { name: "Settings" })).toBeNull();
    expect(useWm.getState().order).toEqual([]);
    // The next user starts from the defaults, and nothing is saved over this user's settings.
    expect(useSettings.getState().theme).toBe("dark");
    act(() => useSettings.setState({ theme: "light" }));
    await new Promise((r) => setTimeout(r, 500));
    expect(api.calls.some((c) => c.method === "PUT" && c.path === "/api/settings")).toBe(false);
  });

  it("signs out even when the last session cannot be saved, and says so", async () => {
    const api = renderDesktop(
      mockApi({
        "POST /api/auth/logout": status(204),
        "POST /api/sessions/save-default": apiError(503, "kernel_down", "kernel not connected"),
        "DELETE /api/apps": { closed: [] },
      }),
    );
    const { signOut } = await import("./signOut");
    await act(() => signOut());
    await screen.findByRole("alertdialog", { name: "Sign in to AgentOS" });
    expect((await screen.findByText(/Saving the last session failed: .*kernel not connected/)).closest("[role=alert]")).toBeTruthy();
    expect(api.calls.some((c) => c.method === "DELETE" && c.path === "/api/apps")).toBe(true);
    expect(api.calls.some((c) => c.method === "POST" && c.path === "/api/auth/logout")).toBe(true);
  });

  it("signing out with nothing open keeps the last session: the server's 204 is no failure", async () => {
    const api = renderDesktop(
      mockApi({
        "POST /api/auth/logout": status(204),
        "POST /api/sessions/save-default": status(204),
        "DELETE /api/apps": { closed: [] },
      }),
    );
    const { signOut } = await import("./signOut");
    await act(() => signOut());
    await screen.findByRole("alertdialog", { name: "Sign in to AgentOS" });
    expect(api.calls.some((c) => c.method === "POST" && c.path === "/api/sessions/save-default")).toBe(true);
    expect(api.calls.some((c) => c.method === "POST" && c.path === "/api/auth/logout")).toBe(true);
    expect(screen.queryByText(/failed/)).toBeNull();
  });

  it("shows a visible error when the API is unreachable", async () => {
    renderDesktop(mockApi({ "GET /api/apps": apiError(503, "kernel_down", "kernel not connected") }));
    const alert = await screen.findByText(/Running apps unavailable: GET \/api\/apps: kernel not connected/);
    expect(alert.closest("[role=alert]")).toBeTruthy();
  });
});

describe("denials", () => {
  it("shows what was denied in the app's window; Allow once posts the grant", async () => {
    const { addDenial, denialOf } = await import("../denials/denials");
    const { openInstance } = await import("../apps/launch");
    const api = mockApi({ "POST /api/apps/*/grants": { ok: true } });
    renderDesktop(api);
    // As the server sends it: the app's own view of the path, and the host path only
    // in the grant that would allow it.
    const host = "/var/lib/agentos/vfs/notes.txt";
    act(() => {
      openInstance({ id: "app-9", app_id: "calculator", name: "Calculator", icon: "", type: "blueprint", blueprint: { ui: { components: [] } } });
      addDenial(denialOf({ app_id: "app-9", access: "read /notes.txt", reason: "no ReadFile grant covers /notes.txt", path: "/notes.txt", capability: `read:${host}` }));
    });
    const win = await screen.findByRole("dialog", { name: "Calculator" });
    const banner = await within(win).findByRole("alert");
    expect(banner.textContent).toContain("Denied: read /notes.txt — no ReadFile grant covers /notes.txt");
    expect(banner.textContent).not.toContain(host);
    fireEvent.click(within(banner).getByRole("button", { name: "Allow once" }));
    await waitFor(() => expect(within(win).queryByRole("alert")).toBeNull());
    expect(api.calls.find((c) => c.path === "/api/apps/app-9/grants")?.body).toEqual({ capability: `read:${host}`, scope: "once" });
  });
});

describe("desktop icons", () => {
  it("are one tab stop, walked with the arrow keys, opened with Enter", async () => {
    renderDesktop();
    const icons = screen.getByRole("list", { name: "Desktop icons" });
    await within(icons).findByRole("button", { name: "Calculator" });
    const files = within(icons).getByRole("button", { name: "Files" });
    expect(files.tabIndex).toBe(0);
    expect(within(icons).getByRole("button", { name: "Terminal" }).tabIndex).toBe(-1);
    // The registry's shell is what Terminal runs: one icon for it, not two.
    expect(within(icons).queryByRole("button", { name: "Shell" })).toBeNull();
    files.focus();
    fireEvent.keyDown(files, { key: "ArrowDown" });
    expect(document.activeElement).toBe(within(icons).getByRole("button", { name: "Terminal" }));
    fireEvent.keyDown(document.activeElement!, { key: "End" });
    expect(document.activeElement).toBe(within(icons).getByRole("button", { name: "Hello" }));
    fireEvent.keyDown(document.activeElement!, { key: "Home" });
    expect(document.activeElement).toBe(files);
    fireEvent.click(within(icons).getByRole("button", { name: "Settings" }), { detail: 0 });
    expect(await screen.findByRole("dialog", { name: "Settings" })).toBeTruthy();
  });
});

describe("keyboard alone", () => {
  it("F6 moves window → dock → menu bar → desktop; Tab stays inside the window; the dock's Enter puts the focus back into it", async () => {
    renderDesktop();
    act(() => {
      openNative("settings");
    });
    const win = await screen.findByRole("dialog", { name: "Settings" });
    await waitFor(() => expect(win.contains(document.activeElement) && document.activeElement !== win).toBe(true));
    // Tab from the window's last stop wraps to its first: the focus never leaves it.
    const visited = new Set<Element | null>();
    for (let i = 0; i < 40; i++) {
      fireEvent.keyDown(document.activeElement!, { key: "Tab", shiftKey: i % 3 === 0 });
      expect(win.contains(document.activeElement)).toBe(true);
      visited.add(document.activeElement);
    }
    // It went round: the title bar's buttons and the content's controls both had it.
    expect(visited.has(within(win).getByRole("button", { name: "Close" }))).toBe(true);
    expect(visited.size).toBeGreaterThan(5);
    const inside = document.activeElement as HTMLElement;

    const dock = screen.getByRole("navigation", { name: "Dock" });
    fireEvent.keyDown(window, { key: "F6" });
    expect(dock.contains(document.activeElement)).toBe(true);
    // One tab stop, the arrows move along it.
    const first = document.activeElement as HTMLElement;
    fireEvent.keyDown(first, { key: "ArrowRight" });
    expect(document.activeElement).not.toBe(first);
    expect(dock.contains(document.activeElement)).toBe(true);
    expect((document.activeElement as HTMLElement).tabIndex).toBe(0);
    expect(first.tabIndex).toBe(-1);

    fireEvent.keyDown(window, { key: "F6" });
    expect(screen.getByTestId("menubar").contains(document.activeElement)).toBe(true);
    fireEvent.keyDown(window, { key: "F6" });
    expect(screen.getByRole("list", { name: "Desktop icons" }).contains(document.activeElement)).toBe(true);
    fireEvent.keyDown(window, { key: "F6" });
    // Back in the window, where the focus was.
    expect(document.activeElement).toBe(inside);
    fireEvent.keyDown(window, { key: "F6", shiftKey: true });
    expect(screen.getByRole("list", { name: "Desktop icons" }).contains(document.activeElement)).toBe(true);

    // Minimised, then restored from the dock by keyboard: the focus goes into the window.
    fireEvent.keyDown(window, { key: "m", ctrlKey: true });
    expect(win.hidden).toBe(true);
    const settings = within(dock).getByRole("button", { name: "Settings, running" });
    settings.focus();
    fireEvent.click(settings, { detail: 0 });
    await waitFor(() => expect(document.activeElement).toBe(inside));
  });

  it("Escape closes the launcher and gives the focus back where it was", async () => {
    renderDesktop();
    const icons = screen.getByRole("list", { name: "Desktop icons" });
    const files = await within(icons).findByRole("button", { name: "Files" });
    files.focus();
    fireEvent.keyDown(window, { key: "k", ctrlKey: true });
    const box = await screen.findByRole("combobox", { name: "Search apps" });
    expect(document.activeElement).toBe(box);
    // F6 does not leave a modal launcher.
    fireEvent.keyDown(window, { key: "F6" });
    expect(document.activeElement).toBe(box);
    fireEvent.keyDown(box, { key: "Escape" });
    expect(screen.queryByRole("dialog", { name: "Launcher" })).toBeNull();
    expect(document.activeElement).toBe(files);
  });
});
