import { describe, expect, it } from "vitest";
import { directory, directoryList } from "./directory";

const manifests = import.meta.glob<{ id: string; name: string; icon: string; entry: string }>("../../../apps/native/*/manifest.json", { eager: true, import: "default" });

describe("the system apps' directory", () => {
  it("has one entry per apps/native manifest whose module the desktop ships, named as the manifest says", () => {
    const builtin = Object.values(manifests).filter((m) => m.entry.startsWith("builtin:"));
    expect(builtin.map((m) => m.id).sort()).toEqual(directoryList.map((d) => d.id).sort());
    for (const m of builtin) {
      expect(m.entry).toBe(`builtin:${m.id}`);
      expect(directory[m.id]).toMatchObject({ title: m.name, icon: m.icon });
    }
    expect(directory.taskmanager?.title).toBe("Task Manager");
  });
});
