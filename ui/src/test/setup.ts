import { cleanup } from "@testing-library/react";
import { afterEach } from "vitest";
import { setApiClient, createApiClient } from "../api/client";
import { resetStores } from "../shell/signOut";

// Vitest runs without globals, so Testing Library cannot register this itself.
// Every store is reset after each test (zustand's testing guide).
afterEach(() => {
  cleanup();
  resetStores();
  setApiClient(createApiClient());
});
