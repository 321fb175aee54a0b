import { describe, expect, it, vi } from "vitest";
import { jsonResponse, sampleHealth } from "../test/fixtures";
import { fetchHealth, HealthError } from "./fetchHealth";

describe("fetchHealth", () => {
  it("requests /health and returns the parsed report", async () => {
    const fetchMock = vi.fn(async () => jsonResponse(sampleHealth()));
    await expect(fetchHealth(fetchMock)).resolves.toEqual(sampleHealth());
    expect(fetchMock).toHaveBeenCalledWith("/health", expect.objectContaining({ cache: "no-store" }));
  });

  it("accepts a valid report sent with a non-2xx status", async () => {
    const degraded = { ...sampleHealth(), status: "degraded" as const };
    const fetchMock = vi.fn(async () => jsonResponse(degraded, { status: 503 }));
    await expect(fetchHealth(fetchMock)).resolves.toEqual(degraded);
  });

  it("reports an HTTP error whose body is not a report", async () => {
    const fetchMock = vi.fn(async () => new Response("Bad Gateway", { status: 502, statusText: "Bad Gateway" }));
    await expect(fetchHealth(fetchMock)).rejects.toThrow("HTTP 502 Bad Gateway");
  });

  it("reports a body that is not JSON", async () => {
    const fetchMock = vi.fn(async () => new Response("<html>", { status: 200 }));
    await expect(fetchHealth(fetchMock)).rejects.toThrow(/not JSON/);
  });

  it("reports a malformed report with the zod message", async () => {
    const fetchMock = vi.fn(async () => jsonResponse({ ...sampleHealth(), kernel: null }));
    const err = await fetchHealth(fetchMock).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HealthError);
    expect((err as Error).message).toMatch(/malformed response[\s\S]*kernel/);
  });

  it("reports a network failure", async () => {
    const fetchMock = vi.fn(async () => {
      throw new TypeError("Failed to fetch");
    });
    await expect(fetchHealth(fetchMock)).rejects.toThrow("GET /health failed: Failed to fetch");
  });

  it("times out a request that never answers", async () => {
    const fetchMock = vi.fn(
      (_url: RequestInfo | URL, init?: RequestInit) =>
        new Promise<Response>((_resolve, reject) => {
          init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
        }),
    );
    await expect(fetchHealth(fetchMock, 20)).rejects.toThrow("timed out after 20 ms");
  });
});
