import { beforeEach, describe, expect, it } from "vitest";
import { createApiClient, setApiClient } from "../../api/client";
import { createMockFetch } from "../../api/mock";
import { fromServer, loadServerSettings, toServer, useSettingsSync } from "./serverSettings";
import { defaultSettings, updateSettings, useSettings } from "./settingsStore";

const server = {
  appearance: { theme: "light", accent: "#86efac", wallpaper: "forest" },
  restore_on_login: true,
  scheduler: { policy: "round_robin", freeze_minimised: true, focus_boost: 8 },
  default_grants: ["time"],
  llm: { url: "http://127.0.0.1:9/v1/chat/completions", model: null },
};

describe("server settings", () => {
  beforeEach(() => useSettings.setState({ ...defaultSettings }));

  it("loads the user's settings at login and PUTs each change back", async () => {
    const m = createMockFetch({ "GET /api/settings": server, "PUT /api/settings": ({ body }: { body: unknown }) => body });
    setApiClient(createApiClient(m.fetch));
    await loadServerSettings(0);
    expect(useSettings.getState()).toMatchObject({ theme: "light", schedPolicy: "round_robin", restoreOnLogin: true, defaultGrants: ["time"] });
    updateSettings({ schedPolicy: "priority" });
    await new Promise((r) => setTimeout(r, 20));
    const put = m.calls.find((c) => c.method === "PUT");
    expect(put?.body).toMatchObject({ scheduler: { policy: "priority", freeze_minimised: true, focus_boost: 8 }, appearance: { theme: "light" } });
    expect(useSettingsSync.getState().phase).toBe("saved");
  });

  it("round-trips between the server's shape and the store's", () => {
    expect(toServer(fromServer(server as Parameters<typeof fromServer>[0]))).toEqual({ ...server, llm: { url: server.llm.url, model: null } });
  });
});
