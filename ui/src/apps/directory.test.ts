import { describe, expect, it } from "vitest";
import { z } from "zod";
import { directory, directoryList } from "./directory";

const manifests = import.meta.glob<{ id: string; name: string; icon: string; entry: string }>("../../../apps/native/*/manifest.json", { eager: true, import: "default" });
/** What the desktop reads of a manifest (directory.ts). */
const ManifestSchema = z.object({ id: z.string().min(1), name: z.string().min(1), description: z.string().min(1), icon: z.string(), category: z.string(), entry: z.string() });

describe("the system apps' directory", () => {
  it("bundles only well-formed manifests", () => {
    expect(Object.keys(manifests).length).toBeGreaterThan(0);
    for (const [file, m] of Object.entries(manifests)) expect(ManifestSchema.safeParse(m).success, file).toBe(true);
  });

  it("has one entry per apps/native manifest whose module the desktop ships, named as the manifest says", () => {
    const builtin = Object.values(manifests).filter((m) => m.entry.startsWith("builtin:"));
    expect(builtin.map((m) => m.id).sort()).toEqual(directoryList.map((d) => d.id).sort());
    for (const m of builtin) {
      expect(m.entry).toBe(`builtin:${m.id}`);
      expect(directory[m.id]).toMatchObject({ title: m.name, icon: m.icon, description: (m as { description?: string }).description });
    }
    expect(directory.taskmanager?.title).toBe("Task Manager");
  });
});
