import { describe, expect, it } from "vitest";
import { formatClock, formatTimeOfDay, formatUptime } from "./time";

describe("formatClock", () => {
  it("formats local time with weekday, day, month and zero-padded h:m:s", () => {
    // Built from local fields, so the result does not depend on the time zone.
    expect(formatClock(new Date(2025, 10, 25, 9, 5, 7))).toBe("Tue 25 Nov 09:05:07");
    expect(formatClock(new Date(2024, 0, 1, 23, 59, 59))).toBe("Mon 1 Jan 23:59:59");
    expect(formatClock(new Date(2023, 11, 31, 0, 0, 0))).toBe("Sun 31 Dec 00:00:00");
  });

  it("formats the time of day", () => {
    expect(formatTimeOfDay(new Date(2025, 0, 1, 7, 3, 9))).toBe("07:03:09");
  });
});

describe("formatUptime", () => {
  it.each([
    [0, "0s"],
    [59_999, "59s"],
    [61_000, "1m 01s"],
    [3_723_000, "1h 02m 03s"],
    [90_061_000, "1d 1h 01m"],
    [-1, "—"],
    [Number.NaN, "—"],
  ])("%d ms → %s", (ms, expected) => {
    expect(formatUptime(ms)).toBe(expected);
  });
});
