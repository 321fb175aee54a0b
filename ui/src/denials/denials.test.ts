import { afterEach, describe, expect, it } from "vitest";
import { KEPT_PER_APP, addDenial, resetDenials, useDenials } from "./denials";

const denial = (access: string, wall = "capability") => ({ appId: "a1", access, reason: "not granted", wall });

describe("denial banners", () => {
  afterEach(() => resetDenials());

  it("shows the same refusal once, as the newest, however often it comes", () => {
    addDenial(denial("read /etc/shadow"));
    addDenial(denial("connect 10.0.0.1:443"));
    addDenial(denial("read /etc/shadow"));
    addDenial(denial("read /etc/shadow"));
    const kept = useDenials.getState().byApp.a1 ?? [];
    expect(kept.map((d) => d.access)).toEqual(["connect 10.0.0.1:443", "read /etc/shadow"]);
  });

  it("keeps one refused by another wall beside it, and only the newest few", () => {
    addDenial(denial("open /root/x", "landlock"));
    addDenial(denial("open /root/x", "mount_namespace"));
    expect(useDenials.getState().byApp.a1).toHaveLength(2);
    for (let i = 0; i < KEPT_PER_APP + 3; i++) addDenial(denial(`read /f${i}`));
    const kept = useDenials.getState().byApp.a1 ?? [];
    expect(kept).toHaveLength(KEPT_PER_APP);
    expect(kept.at(-1)?.access).toBe(`read /f${KEPT_PER_APP + 2}`);
  });
});
