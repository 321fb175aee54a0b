import { afterEach, describe, expect, it } from "vitest";
import { api, createApiClient, setApiClient } from "../api/client";
import { createMockFetch } from "../api/mock";
import { workArea } from "../wm/geometry";
import { useWm } from "../wm/store";
import { launchRegistryApp, openInstance } from "./launch";

// What the server answers a launch with: a window with no geometry (the desktop places it).
const calculator = { id: "a1", app_id: "calculator", name: "Calculator", kind: "blueprint", source: { kind: "blueprint", blueprint: { ui: { components: [] } } }, window: { state: "normal", z: 3 } };

function screenOf(width: number, height: number) {
  Object.defineProperty(window, "innerWidth", { value: width, configurable: true });
  Object.defineProperty(window, "innerHeight", { value: height, configurable: true });
}

describe("where a server app's window opens", () => {
  afterEach(() => screenOf(1024, 768));

  it("a fresh launch, which has no geometry on the server, is placed by the desktop for the screen", async () => {
    screenOf(1920, 1080);
    const m = createMockFetch({ "POST /api/registry/apps/calculator/launch": calculator });
    setApiClient(createApiClient(m.fetch));
    const id = await launchRegistryApp({ id: "calculator", name: "Calculator", type: "blueprint" });
    const rect = useWm.getState().windows[id!]!.rect;
    // A Blueprint keeps its own size on a large screen: more room would only be empty.
    expect({ width: rect.width, height: rect.height }).toEqual({ width: 420, height: 520 });
    // Centred across the work area (the cascade's first place).
    const area = workArea({ width: 1920, height: 1080 });
    expect(Math.abs(rect.x + rect.width / 2 - area.width / 2)).toBeLessThanOrEqual(1);
  });

  it("a window the server already has (a reload, a restore) comes back where it was", async () => {
    screenOf(1920, 1080);
    setApiClient(createApiClient(createMockFetch({ "GET /api/apps": [{ ...calculator, id: "a2", window: { x: 300, y: 200, width: 640, height: 480, state: "normal", z: 1 } }] }).fetch));
    const [inst] = await api.listApps();
    const id = openInstance(inst!);
    expect(useWm.getState().windows[id]!).toMatchObject({ rect: { x: 300, y: 200, width: 640, height: 480 }, mode: "normal" });
  });
});
