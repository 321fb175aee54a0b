import type { Health } from "../health/schema";

/** A /health answer as the services layer sends it with the kernel connected. */
export function sampleHealth(): Health {
  return {
    status: "ok",
    version: "0.1.0",
    kernel: { connected: true, socket: "/run/agentos/kernel.sock", uptime_ms: 3_723_000 },
    doctor: {
      io_uring: { backend: "io_uring", available: true, reason: "io_uring_setup succeeded" },
      openat2: { backend: "openat2", available: true, reason: "RESOLVE_BENEATH supported" },
      namespaces: { backend: "linux-namespaces", available: true, reason: "unshare(CLONE_NEWUSER) ok" },
      cgroups: { backend: "cgroup-hybrid", available: true, reason: "v2 at /sys/fs/cgroup/unified, v1 controllers" },
      ebpf: { backend: "userspace", available: false, reason: "kernel built without eBPF programs" },
      landlock: { backend: "landlock", available: true, reason: "ABI v6" },
      seccomp: { backend: "seccomp-bpf", available: true, reason: "SECCOMP_MODE_FILTER supported" },
    },
  };
}

export function jsonResponse(body: unknown, init: ResponseInit = {}): Response {
  return new Response(JSON.stringify(body), {
    status: 200,
    headers: { "Content-Type": "application/json" },
    ...init,
  });
}
