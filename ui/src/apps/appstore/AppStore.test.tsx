import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { createApiClient, setApiClient } from "../../api/client";
import { createMockFetch } from "../../api/mock";
import type { AppContext } from "../context";
import AppStore from "./AppStore";

describe("<AppStore>", () => {
  it("offers Delete only for saved apps, not for the ones AgentOS ships (an app without an icon is listed too)", async () => {
    const m = createMockFetch({
      "GET /api/registry/apps": [
        { id: "files", name: "Files", icon: "files", category: "system", version: "1.0.0", kind: "native_web", builtin: true },
        { id: "tally", name: "Tally", icon: null, category: "utilities", version: "1.0.0", kind: "blueprint", builtin: false },
      ],
    });
    setApiClient(createApiClient(m.fetch));
    render(<AppStore ctx={{} as AppContext} />);
    const saved = (await screen.findByRole("button", { name: "Open Tally" })).closest("li")!;
    expect(within(saved).getByRole("button", { name: "Delete Tally" })).toBeTruthy();
    const shipped = screen.getByRole("button", { name: "Open Files" }).closest("li")!;
    expect(within(shipped).queryByRole("button", { name: "Delete Files" })).toBeNull();
  });
});
