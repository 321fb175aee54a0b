import { render, screen, waitFor, within } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { App } from "../App";
import { resetHealthStore } from "../health/store";
import { useHealthPolling } from "../health/useHealthPolling";
import { jsonResponse, sampleHealth } from "../test/fixtures";
import { SystemStatus } from "./SystemStatus";

function PolledStatus({ intervalMs }: { intervalMs: number }) {
  useHealthPolling(intervalMs);
  return <SystemStatus />;
}

describe("<SystemStatus>", () => {
  beforeEach(() => {
    resetHealthStore();
  });

  it("keeps each subsystem to one line until its row is opened, by click or keyboard", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => jsonResponse(sampleHealth())));
    render(<PolledStatus intervalMs={60_000} />);
    const ebpf = await screen.findByTestId("doctor-ebpf");
    const toggle = within(ebpf).getByRole("button", { name: /ebpf\s*userspace\s*unavailable/ });
    expect(toggle.getAttribute("aria-expanded")).toBe("false");
    expect(ebpf.dataset.open).toBe("false");
    const reason = ebpf.querySelector("[data-field=reason]") as HTMLElement;
    expect(toggle.getAttribute("aria-controls")).toBe(reason.id);
    // Cut to one line, the whole reason in its title and in the page.
    expect(reason.title).toContain("kernel built without eBPF programs");
    toggle.click();
    await waitFor(() => expect(toggle.getAttribute("aria-expanded")).toBe("true"));
    expect(ebpf.dataset.open).toBe("true");
    expect(reason.title).toBe("");
  });

  it("renders the overall status, kernel and one row per subsystem in order", async () => {
    const fetchMock = vi.fn(async () => jsonResponse(sampleHealth()));
    vi.stubGlobal("fetch", fetchMock);

    render(<App />);

    const ioUring = await screen.findByTestId("doctor-io_uring");
    expect(fetchMock).toHaveBeenCalledWith("/health", expect.anything());
    expect(within(ioUring).getByText("io_uring", { selector: "[data-field=name]" })).toBeTruthy();
    expect(ioUring.querySelector("[data-field=backend]")?.textContent).toBe("io_uring");
    expect(ioUring.querySelector("[data-field=available]")?.textContent).toBe("available");
    expect(ioUring.textContent).toContain("io_uring_setup succeeded");

    const ebpf = screen.getByTestId("doctor-ebpf");
    expect(ebpf.dataset.available).toBe("false");
    expect(ebpf.querySelector("[data-field=backend]")?.textContent).toBe("userspace");
    expect(ebpf.querySelector("[data-field=available]")?.textContent).toBe("unavailable");
    expect(ebpf.textContent).toContain("kernel built without eBPF programs");

    const rows = screen.getAllByTestId(/^doctor-/).filter((el) => el.tagName === "LI");
    expect(rows.map((r) => r.dataset.testid)).toEqual(
      Object.keys(sampleHealth().doctor).map((k) => `doctor-${k}`),
    );

    expect(screen.getByTestId("health-status").textContent).toBe("ok");
    expect(screen.getByTestId("health-version").textContent).toBe("0.1.0");
    const kernel = screen.getByTestId("health-kernel");
    expect(kernel.textContent).toContain("connected");
    expect(kernel.textContent).toContain("up 1h 02m 03s");
    expect(kernel.textContent).toContain("/run/agentos/kernel.sock");
    expect(screen.getByTestId("system-status").dataset.phase).toBe("ok");
    expect(screen.getByTestId("dock")).toBeTruthy();
    expect(screen.getByTestId("menubar-clock")).toBeTruthy();
  });

  it("says the kernel is down when doctor is empty", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () =>
        jsonResponse({
          status: "degraded",
          version: "0.1.0",
          kernel: { connected: false, socket: "/run/agentos/kernel.sock", uptime_ms: 0 },
          doctor: {},
        }),
      ),
    );
    render(<PolledStatus intervalMs={60_000} />);
    expect((await screen.findByTestId("doctor-empty")).textContent).toContain("kernel not connected");
    expect(screen.getByTestId("health-status").textContent).toBe("degraded");
    expect(screen.getByTestId("health-kernel").textContent).toContain("not connected");
  });

  it("shows an error state when the request fails", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => {
        throw new TypeError("Failed to fetch");
      }),
    );
    render(<App />);
    // The desktop may raise its own alerts (the API is down too); look in the panel.
    const alert = await within(screen.getByTestId("system-status")).findByRole("alert");
    expect(alert.textContent).toContain("System status unavailable");
    expect(alert.textContent).toContain("GET /health failed: Failed to fetch");
    expect(screen.getByTestId("system-status").dataset.phase).toBe("error");
    expect(screen.queryByTestId("doctor-io_uring")).toBeNull();
  });

  it("shows the zod message when /health is malformed", async () => {
    const bad = { ...sampleHealth(), doctor: { io_uring: { backend: 42, available: true, reason: "" } } };
    vi.stubGlobal("fetch", vi.fn(async () => jsonResponse(bad)));
    render(<App />);
    const alert = await within(screen.getByTestId("system-status")).findByRole("alert");
    expect(alert.textContent).toContain("malformed response");
    expect(alert.textContent).toContain("doctor.io_uring.backend");
    expect(screen.queryByTestId("doctor-io_uring")).toBeNull();
  });

  it("polls again and keeps the last good report, marked stale, after a failure", async () => {
    // The failures wait for `release`, so a loaded machine's next poll cannot fail before
    // the first good report has been looked at.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const fetchMock = vi
      .fn<typeof fetch>()
      .mockResolvedValueOnce(jsonResponse(sampleHealth()))
      .mockImplementation(async () => {
        await gate;
        return new Response("upstream down", { status: 502, statusText: "Bad Gateway" });
      });
    vi.stubGlobal("fetch", fetchMock);

    render(<PolledStatus intervalMs={20} />);
    await screen.findByTestId("doctor-io_uring");
    expect(screen.queryByRole("alert")).toBeNull();
    release();

    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("HTTP 502 Bad Gateway");
    expect(fetchMock.mock.calls.length).toBeGreaterThanOrEqual(2);
    const stale = screen.getByTestId("system-status-stale");
    expect(within(stale).getByTestId("doctor-io_uring")).toBeTruthy();

    // And it recovers on a later poll.
    fetchMock.mockImplementation(async () => jsonResponse({ ...sampleHealth(), version: "0.1.1" }));
    await waitFor(() => expect(screen.getByTestId("health-version").textContent).toBe("0.1.1"));
    expect(screen.queryByRole("alert")).toBeNull();
  });
});
