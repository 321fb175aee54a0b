import { describe, expect, it } from "vitest";
import { groupAccessByApp } from "./groupAccess";

const files = (id: string, via: string[], read = true, write = true) => ({ id, app_id: "files", name: "Files", read, write, via });

describe("who can use a path, by app", () => {
  it("lists two windows of one app once, with every grant once and the number of windows", () => {
    const notes = { id: "a3", app_id: "notes", name: "Notes", read: true, write: false, via: ["read:/home"] };
    expect(groupAccessByApp([files("a1", ["filesystem"]), notes, files("a2", ["filesystem"])])).toEqual([
      { appId: "files", name: "Files", read: true, write: true, via: ["filesystem"], instances: 2 },
      { appId: "notes", name: "Notes", read: true, write: false, via: ["read:/home"], instances: 1 },
    ]);
  });

  it("keeps what any window may do and each window's own grants", () => {
    const grouped = groupAccessByApp([files("a1", ["read:/docs"], true, false), files("a2", ["write:/docs", "read:/docs"], false, true)]);
    expect(grouped).toEqual([{ appId: "files", name: "Files", read: true, write: true, via: ["read:/docs", "write:/docs"], instances: 2 }]);
  });

  it("keeps apps apart even when they share a name", () => {
    const other = { ...files("a9", ["filesystem"]), app_id: "files-2" };
    expect(groupAccessByApp([files("a1", ["filesystem"]), other]).map((g) => g.appId)).toEqual(["files", "files-2"]);
  });
});
