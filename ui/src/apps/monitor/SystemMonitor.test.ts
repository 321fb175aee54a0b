import { describe, expect, it } from "vitest";
import { addSample, parseMetrics, summarize } from "./SystemMonitor";

describe("system monitor data", () => {
  it("parses Prometheus text", () => {
    const text = '# HELP x y\n# TYPE agentos_active_apps gauge\nagentos_active_apps 3\nhttp_requests_total{route="/api/apps",status="200"} 12\nbad line\n';
    expect(parseMetrics(text)).toEqual([
      { name: "agentos_active_apps", labels: "", value: 3 },
      { name: "http_requests_total", labels: '{route="/api/apps",status="200"}', value: 12 },
    ]);
  });

  it("sums histograms over their labels into counts and mean latencies", () => {
    const text = [
      'agentos_http_request_duration_seconds_sum{route="/a",status="200"} 0.5',
      'agentos_http_request_duration_seconds_count{route="/a",status="200"} 200',
      'agentos_http_request_duration_seconds_bucket{route="/a",status="200",le="0.005"} 150',
      'agentos_http_request_duration_seconds_sum{route="/b",status="404"} 0.5',
      'agentos_http_request_duration_seconds_count{route="/b",status="404"} 50',
      "agentos_kernel_up 0",
      "agentos_active_apps 2",
      "agentos_process_spawned_total 1500",
    ].join("\n");
    expect(summarize(parseMetrics(text))).toEqual([
      { label: "Kernel", value: "not answering" },
      { label: "Apps running", value: "2" },
      { label: "HTTP requests", value: "250, mean 4.00 ms" },
      { label: "Processes started", value: "1,500" },
    ]);
  });

  it("keeps per-app CPU and memory aligned with time, with gaps for apps that come and go", () => {
    let h = { times: [] as number[], apps: {} };
    h = addSample(h, 1, [{ pid: 1, app_id: "a", name: "shell", state: "running", cpu_percent: 2, memory_current: 100 }]);
    h = addSample(h, 2, [
      { pid: 1, app_id: "a", name: "shell", state: "running", cpu_percent: 4, memory_current: 200 },
      { pid: 2, app_id: "b", name: "python", state: "running", cpu_percent: 1, memory_current: 50 },
    ]);
    h = addSample(h, 3, [{ pid: 2, app_id: "b", name: "python", state: "running", cpu_percent: 3, memory_current: 60 }]);
    expect(h.times).toEqual([1, 2, 3]);
    expect(h.apps).toEqual({
      a: { name: "shell", cpu: [2, 4, null], mem: [100, 200, null] },
      b: { name: "python", cpu: [null, 1, 3], mem: [null, 50, 60] },
    });
  });
});
