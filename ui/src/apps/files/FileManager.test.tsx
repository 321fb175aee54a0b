import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { createApiClient, setApiClient } from "../../api/client";
import { createMockFetch, status } from "../../api/mock";
import { executeTool } from "../../tools/executor";
import type { AppContext } from "../context";
import FileManager from "./FileManager";

function fakeFs() {
  const files = new Map<string, string | null>([["/home", null], ["/home/readme.txt", "hello"]]);
  const bytes = new Map<string, Uint8Array>();
  const parentOf = (p: string) => p.replace(/\/[^/]+$/, "") || "/";
  const m = createMockFetch({
    "GET /api/files/access": ({ url }: { url: URL }) => ({
      path: url.searchParams.get("path"),
      // Per instance, as the server answers: two Files windows hold the same grant.
      apps: url.searchParams.get("path")?.startsWith("/home")
        ? [
            { id: "a2", app_id: "notes", name: "Notes", read: true, write: true, via: ["permission filesystem"] },
            { id: "a4", app_id: "files", name: "Files", read: true, write: true, via: ["permission filesystem"] },
            { id: "a5", app_id: "files", name: "Files", read: true, write: true, via: ["permission filesystem"] },
          ]
        : [],
    }),
    "POST /api/services/execute": ({ body }: { body: unknown }) => {
      // The server's contract: `{tool, args}` in, `{tool, result}` out, a refusal as a 4xx.
      const { tool, args: params } = body as { tool: string; args: Record<string, string> };
      const ok = (result: unknown) => ({ tool, result });
      switch (tool) {
        case "fs.list":
          return ok([...files].filter(([k]) => parentOf(k) === params.path).map(([k, v]) => ({ name: k.split("/").pop(), is_dir: v === null, size: v?.length ?? 0 })));
        case "fs.mkdir":
          files.set(params.path!, null);
          return ok(true);
        case "fs.delete":
          files.delete(params.path!);
          return ok(null);
        case "fs.copy":
          files.set(params.to!, files.get(params.from!) ?? null);
          return ok(true);
        case "fs.rename":
        case "fs.move":
          files.set(params.to!, files.get(params.from!) ?? null);
          files.delete(params.from!);
          return ok(true);
        case "fs.read":
          return ok(files.get(params.path!));
        case "fs.write":
          // The server's rule: base64 is decoded to the bytes written.
          if (params.encoding === "base64") {
            bytes.set(params.path!, Uint8Array.from(atob(params.content!), (c) => c.charCodeAt(0)));
            files.set(params.path!, new TextDecoder().decode(bytes.get(params.path!)));
          } else files.set(params.path!, params.content!);
          return ok(true);
        case "fs.search": {
          const under = `${params.path!.replace(/\/$/, "")}/`;
          const matches = [...files]
            .filter(([k]) => k.startsWith(under) && k.split("/").pop()!.toLowerCase().includes(params.query!.toLowerCase()))
            .map(([k, v]) => ({ path: k, name: k.split("/").pop(), is_dir: v === null, size: v?.length ?? 0 }));
          return ok({ matches, truncated: false });
        }
        default:
          return status(403, { error: { code: "permission_denied", message: `denied: ${tool}` } });
      }
    },
  });
  return { m, files, bytes };
}

const ctx: AppContext = {
  appId: "files",
  windowId: "files-1",
  serverId: null,
  state: { get: (_k, f) => f, set: () => {} },
  execute: (tool, params = {}) => executeTool(tool, params, { windowId: "files-1", serverId: null }),
  window: { setTitle: () => {}, close: () => {}, minimize: () => {}, focus: () => {} },
};

describe("<FileManager>", () => {
  it("creates a folder, renames it, opens a file and uploads a dropped one", async () => {
    const { m, files } = fakeFs();
    setApiClient(createApiClient(m.fetch));
    render(<FileManager ctx={ctx} />);
    fireEvent.doubleClick(await screen.findByRole("row", { name: /home/ }));
    const table = await screen.findByRole("table", { name: "Contents of /home" });
    expect(within(table).getByRole("row", { name: /readme\.txt/ })).toBeTruthy();

    fireEvent.click(screen.getByRole("button", { name: "New folder" }));
    fireEvent.change(screen.getByRole("textbox", { name: "Folder name" }), { target: { value: "projects" } });
    fireEvent.click(screen.getByRole("button", { name: "Create" }));
    await screen.findByRole("row", { name: /projects/ });
    expect(files.has("/home/projects")).toBe(true);

    fireEvent.click(screen.getByRole("row", { name: /projects/ }));
    fireEvent.click(screen.getByRole("button", { name: "Rename" }));
    fireEvent.change(screen.getByRole("textbox", { name: "New name" }), { target: { value: "work" } });
    fireEvent.submit(screen.getByRole("textbox", { name: "New name" }));
    await screen.findByRole("row", { name: /work/ });
    expect(files.has("/home/projects")).toBe(false);

    fireEvent.keyDown(screen.getByRole("row", { name: /readme\.txt/ }), { key: "Enter" });
    expect((await screen.findByRole("region", { name: "Preview of /home/readme.txt" })).textContent).toContain("hello");

    const file = new File(["dropped text"], "notes.md", { type: "text/markdown" });
    fireEvent.drop(table.closest(".fm")!, { dataTransfer: { files: [file], types: ["Files"] } });
    await waitFor(() => expect(files.get("/home/notes.md")).toBe("dropped text"));
    await screen.findByRole("row", { name: /notes\.md/ });
  });

  it("keeps the keyboard on what it did: the new folder's row, a renamed row, an opened folder's first row, the next row after a delete; F2 and Delete on a row", async () => {
    const { m, files } = fakeFs();
    files.set("/home/docs", null);
    setApiClient(createApiClient(m.fetch));
    const confirm = vi.fn(() => true);
    Object.defineProperty(window, "confirm", { value: confirm, configurable: true, writable: true });
    render(<FileManager ctx={ctx} />);
    const home = await screen.findByRole("row", { name: /home/ });
    home.focus();
    fireEvent.keyDown(home, { key: "Enter" });
    await screen.findByRole("table", { name: "Contents of /home" });
    await waitFor(() => expect(document.activeElement?.textContent).toContain("docs/"));

    fireEvent.click(screen.getByRole("button", { name: "New folder" }));
    fireEvent.change(screen.getByRole("textbox", { name: "Folder name" }), { target: { value: "projects" } });
    fireEvent.submit(screen.getByRole("textbox", { name: "Folder name" }));
    await waitFor(() => expect(document.activeElement?.getAttribute("data-path")).toBe("/home/projects"));

    fireEvent.keyDown(document.activeElement!, { key: "F2" });
    const rename = screen.getByRole("textbox", { name: "New name" });
    expect((rename as HTMLInputElement).value).toBe("projects");
    fireEvent.change(rename, { target: { value: "work" } });
    fireEvent.submit(rename);
    await waitFor(() => expect(document.activeElement?.getAttribute("data-path")).toBe("/home/work"));

    fireEvent.keyDown(document.activeElement!, { key: "Delete" });
    await waitFor(() => expect(files.has("/home/work")).toBe(false));
    expect(confirm).toHaveBeenCalledWith("Delete /home/work?");
    // On to the row that took its place.
    await waitFor(() => expect(document.activeElement?.getAttribute("data-path")).toBe("/home/readme.txt"));
  });

  it("has a toolbar of one tab stop, walked with the arrow keys past what is disabled", async () => {
    const { m } = fakeFs();
    setApiClient(createApiClient(m.fetch));
    render(<FileManager ctx={ctx} />);
    const toolbar = await screen.findByRole("toolbar", { name: "File actions" });
    const stops = () => within(toolbar).getAllByRole("button").filter((b) => b.tabIndex === 0).map((b) => b.textContent);
    // At the top nothing is selected: Up, Rename, Copy, Move and Delete are disabled.
    expect(stops()).toEqual(["New folder"]);
    within(toolbar).getByRole("button", { name: "New folder" }).focus();
    fireEvent.keyDown(document.activeElement!, { key: "ArrowRight" });
    expect(document.activeElement?.textContent).toBe("Refresh");
    expect(stops()).toEqual(["Refresh"]);
    fireEvent.keyDown(document.activeElement!, { key: "ArrowRight" });
    expect(document.activeElement?.textContent).toBe("New folder");
    fireEvent.keyDown(document.activeElement!, { key: "End" });
    expect(document.activeElement?.textContent).toBe("Refresh");
  });

  it("uploads a binary file as its bytes, not as text", async () => {
    const { m, bytes } = fakeFs();
    setApiClient(createApiClient(m.fetch));
    render(<FileManager ctx={ctx} />);
    const table = await screen.findByRole("table", { name: "Contents of /" });
    // Not valid UTF-8, with a NUL and every high byte a text round trip would mangle.
    const raw = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0xfe, 0x0d, 0x0a, 0x80]);
    const file = new File([raw], "image.png", { type: "image/png" });
    fireEvent.drop(table.closest(".fm")!, { dataTransfer: { files: [file], types: ["Files"] } });
    await waitFor(() => expect(bytes.get("/image.png")).toEqual(raw));
    const write = m.calls.find((c) => (c.body as { tool?: string } | undefined)?.tool === "fs.write");
    expect((write?.body as { args: Record<string, string> }).args.encoding).toBe("base64");
  });

  it("searches through subfolders and opens a result in its folder", async () => {
    const { m, files } = fakeFs();
    files.set("/home/docs", null);
    files.set("/home/docs/report-2026.txt", "q4");
    setApiClient(createApiClient(m.fetch));
    render(<FileManager ctx={ctx} />);
    await screen.findByRole("table", { name: "Contents of /" });
    const box = screen.getByRole("searchbox", { name: "Search this folder and its subfolders" }) as HTMLInputElement;
    fireEvent.change(box, { target: { value: "REPORT" } });
    fireEvent.submit(box.form!);
    const results = await screen.findByRole("region", { name: "Search results for “REPORT” below /" });
    expect(within(results).getByRole("status").textContent).toBe("1 found");
    fireEvent.click(within(results).getByRole("button", { name: "/home/docs/report-2026.txt" }));
    const table = await screen.findByRole("table", { name: "Contents of /home/docs" });
    await waitFor(() => expect(within(table).getByRole("row", { name: /report-2026\.txt/ }).getAttribute("aria-selected")).toBe("true"));
    expect(screen.queryByRole("region", { name: /Search results/ })).toBeNull();
  });

  it("shows a failed operation instead of hiding it", async () => {
    const m = createMockFetch({ "POST /api/services/execute": status(403, { error: { code: "permission_denied", message: "permission denied: fs.list /" } }) });
    setApiClient(createApiClient(m.fetch));
    render(<FileManager ctx={ctx} />);
    expect((await screen.findByRole("alert")).textContent).toContain("permission denied: fs.list /");
  });

  it("copies and moves a file, walks the folder tree, and says which apps may use the selection", async () => {
    const { m, files } = fakeFs();
    files.set("/home/docs", null);
    setApiClient(createApiClient(m.fetch));
    render(<FileManager ctx={ctx} />);
    const tree = await screen.findByRole("navigation", { name: "Folders" });
    fireEvent.click(await within(tree).findByRole("button", { name: "home" }));
    await screen.findByRole("table", { name: "Contents of /home" });
    expect(await within(tree).findByRole("button", { name: "docs" })).toBeTruthy();
    expect(within(tree).getByRole("button", { name: "home" }).getAttribute("aria-current")).toBe("location");

    fireEvent.click(await screen.findByRole("row", { name: /readme\.txt/ }));
    const access = await screen.findByRole("region", { name: "Apps that may use /home/readme.txt" });
    await waitFor(() => expect(access.textContent).toContain("Notes reads and writes"));
    // One row per app, not per window.
    expect(within(access).getAllByRole("listitem").map((li) => li.textContent)).toEqual([
      "Notes reads and writes (permission filesystem)",
      "Files (2 windows) reads and writes (permission filesystem)",
    ]);

    fireEvent.click(screen.getByRole("button", { name: "Copy" }));
    const copyTo = screen.getByRole("textbox", { name: "Copy to" }) as HTMLInputElement;
    fireEvent.change(copyTo, { target: { value: "docs/readme.txt" } });
    fireEvent.submit(copyTo.form!);
    await waitFor(() => expect(files.get("/home/docs/readme.txt")).toBe("hello"));
    expect(files.get("/home/readme.txt")).toBe("hello");

    fireEvent.click(await screen.findByRole("row", { name: /readme\.txt/ }));
    fireEvent.click(screen.getByRole("button", { name: "Move" }));
    const moveTo = screen.getByRole("textbox", { name: "Move to" }) as HTMLInputElement;
    fireEvent.change(moveTo, { target: { value: "/home/moved.txt" } });
    fireEvent.submit(moveTo.form!);
    await waitFor(() => expect(files.has("/home/readme.txt")).toBe(false));
    expect(files.get("/home/moved.txt")).toBe("hello");
    await screen.findByRole("row", { name: /moved\.txt/ });
  });
});
