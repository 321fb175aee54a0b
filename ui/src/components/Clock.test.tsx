import { act, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Clock } from "./Clock";

describe("<Clock>", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date(2025, 10, 25, 9, 5, 7, 400));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("shows the current time and ticks every second", () => {
    render(<Clock />);
    const clock = screen.getByTestId("menubar-clock");
    expect(clock.textContent).toBe("Tue 25 Nov 09:05:07");

    act(() => {
      vi.advanceTimersByTime(1000);
    });
    expect(clock.textContent).toBe("Tue 25 Nov 09:05:08");

    act(() => {
      vi.advanceTimersByTime(60_000);
    });
    expect(clock.textContent).toBe("Tue 25 Nov 09:06:08");
  });

  it("stops its timer when unmounted", () => {
    const { unmount } = render(<Clock />);
    expect(vi.getTimerCount()).toBe(1);
    unmount();
    expect(vi.getTimerCount()).toBe(0);
  });
});
