import { describe, expect, it } from "vitest";
import { sampleHealth } from "../test/fixtures";
import { HealthSchema, parseHealth } from "./schema";

describe("HealthSchema", () => {
  it("accepts a valid /health answer and keeps the doctor order", () => {
    const sample = sampleHealth();
    const result = parseHealth(JSON.parse(JSON.stringify(sample)));
    expect(result).toEqual({ ok: true, health: sample });
    if (!result.ok) throw new Error("unreachable");
    expect(Object.keys(result.health.doctor)).toEqual([
      "io_uring",
      "openat2",
      "namespaces",
      "cgroups",
      "ebpf",
      "landlock",
      "seccomp",
    ]);
  });

  it("accepts a degraded answer with the kernel down and an empty doctor", () => {
    const degraded = {
      status: "degraded",
      version: "0.1.0",
      kernel: { connected: false, socket: "/run/agentos/kernel.sock", uptime_ms: 0 },
      doctor: {},
    };
    expect(HealthSchema.safeParse(degraded).success).toBe(true);
  });

  it("drops unknown extra fields instead of failing", () => {
    const result = HealthSchema.parse({ ...sampleHealth(), build: "abc123" });
    expect(result).not.toHaveProperty("build");
  });

  it("rejects a wrong field type and names the path", () => {
    const bad = sampleHealth() as unknown as { kernel: Record<string, unknown> };
    bad.kernel.connected = "yes";
    const result = parseHealth(bad);
    expect(result.ok).toBe(false);
    if (result.ok) throw new Error("unreachable");
    expect(result.error).toContain("kernel.connected");
    expect(result.error).toMatch(/expected boolean/i);
  });

  it("rejects an unknown status, a missing version and a bad doctor entry", () => {
    const { version: _omitted, ...noVersion } = sampleHealth();
    expect(HealthSchema.safeParse(noVersion).success).toBe(false);
    expect(HealthSchema.safeParse({ ...sampleHealth(), status: "fine" }).success).toBe(false);
    expect(
      HealthSchema.safeParse({ ...sampleHealth(), doctor: { io_uring: { backend: "io_uring", available: true } } })
        .success,
    ).toBe(false);
    expect(
      HealthSchema.safeParse({
        ...sampleHealth(),
        doctor: { io_uring: { backend: "io_uring", available: "true", reason: "" } },
      }).success,
    ).toBe(false);
    for (const uptime_ms of ["5", -1]) {
      const kernel = { ...sampleHealth().kernel, uptime_ms };
      expect(HealthSchema.safeParse({ ...sampleHealth(), kernel }).success).toBe(false);
    }
    expect(HealthSchema.safeParse(null).success).toBe(false);
  });
});
