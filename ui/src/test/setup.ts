import { cleanup } from "@testing-library/react";
import { afterEach } from "vitest";
import { resetAuthStore } from "../api/auth";
import { setApiClient, createApiClient } from "../api/client";
import { useAppState } from "../apps/appState";
import { resetProcs } from "../apps/processes";
import { stopServerSettings } from "../apps/settings/serverSettings";
import { resetRegistry } from "../apps/registry";
import { resetShell } from "../shell/store";
import { resetWm } from "../wm/store";

// Vitest runs without globals, so Testing Library cannot register this itself.
// Every store is reset after each test (zustand's testing guide).
afterEach(() => {
  cleanup();
  resetWm();
  resetShell();
  resetProcs();
  resetRegistry();
  resetAuthStore();
  stopServerSettings();
  useAppState.setState({ byWindow: {} });
  setApiClient(createApiClient());
});
