import { afterEach, describe, expect, it } from "vitest";
import { createApiClient, setApiClient } from "../api/client";
import { createMockFetch } from "../api/mock";
import { workArea } from "../wm/geometry";
import { useWm } from "../wm/store";
import { launchRegistryApp, openInstance } from "./launch";

// What the server gives every new app: one default rect, whatever the screen.
const SERVER_DEFAULT = { x: 80, y: 60, width: 640, height: 480, state: "normal" };
const calculator = { id: "a1", app_id: "calculator", name: "Calculator", type: "blueprint", blueprint: { ui: { components: [] } }, window: SERVER_DEFAULT };

function screenOf(width: number, height: number) {
  Object.defineProperty(window, "innerWidth", { value: width, configurable: true });
  Object.defineProperty(window, "innerHeight", { value: height, configurable: true });
}

describe("where a server app's window opens", () => {
  afterEach(() => screenOf(1024, 768));

  it("a fresh launch is placed by the desktop for the screen, not at the server's default rect", async () => {
    screenOf(1920, 1080);
    setApiClient(createApiClient(createMockFetch({ "POST /api/registry/apps/calculator/launch": calculator }).fetch));
    const id = await launchRegistryApp({ id: "calculator", name: "Calculator", type: "blueprint" });
    const rect = useWm.getState().windows[id!]!.rect;
    expect(rect).not.toMatchObject({ x: 80, y: 60 });
    // A Blueprint keeps its own size on a large screen: more room would only be empty.
    expect({ width: rect.width, height: rect.height }).toEqual({ width: 420, height: 520 });
    // Centred across the work area (the cascade's first place).
    const area = workArea({ width: 1920, height: 1080 });
    expect(Math.abs(rect.x + rect.width / 2 - area.width / 2)).toBeLessThanOrEqual(1);
  });

  it("a window the server already has (a reload, a restore) comes back where it was", () => {
    screenOf(1920, 1080);
    const id = openInstance({ ...calculator, window: { ...SERVER_DEFAULT, x: 300, y: 200 } } as Parameters<typeof openInstance>[0]);
    expect(useWm.getState().windows[id]!.rect).toEqual({ x: 300, y: 200, width: 640, height: 480 });
  });
});
