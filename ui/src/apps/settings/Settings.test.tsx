import { fireEvent, render, screen } from "@testing-library/react";
import { beforeEach, describe, expect, it } from "vitest";
import type { AppContext } from "../context";
import Settings from "./Settings";
import { defaultSettings, updateSettings, useSettings } from "./settingsStore";

describe("Settings: the scheduler", () => {
  beforeEach(() => useSettings.setState({ ...defaultSettings }));

  it("sets the focus boost, says what it means, and disables it under round-robin", () => {
    render(<Settings ctx={{} as AppContext} />);
    const boost = screen.getByRole("slider", { name: "Focus boost" }) as HTMLInputElement;
    expect(boost.value).toBe("4");
    fireEvent.change(boost, { target: { value: "9" } });
    expect(useSettings.getState().focusBoost).toBe(9);
    expect(screen.getByText(/gets 9× the CPU share/)).toBeTruthy();
    expect(boost.getAttribute("aria-valuetext")).toBe("9×");
    expect(boost.disabled).toBe(false);
    fireEvent.change(screen.getByRole("combobox", { name: "Scheduler policy" }), { target: { value: "round_robin" } });
    expect(boost.disabled).toBe(true);
    updateSettings({ schedPolicy: "fair" });
  });
});
