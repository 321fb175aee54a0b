import { describe, expect, it } from "vitest";
import { evaluate, formatNumber, MathError } from "./math";

describe("evaluate", () => {
  it("respects precedence and associativity", () => {
    expect(evaluate("7 * 6")).toBe(42);
    expect(evaluate("2 + 3 * 4")).toBe(14);
    expect(evaluate("(2 + 3) * 4")).toBe(20);
    expect(evaluate("10 - 4 - 3")).toBe(3);
    expect(evaluate("100 / 10 / 5")).toBe(2);
    expect(evaluate("2 ^ 3 ^ 2")).toBe(512);
    expect(evaluate("-2 ^ 2")).toBe(-4);
    expect(evaluate("2 ** 10")).toBe(1024);
    expect(evaluate("7 % 4")).toBe(3);
    expect(evaluate("--3")).toBe(3);
    expect(evaluate("1.5e3 + .5")).toBe(1500.5);
    expect(evaluate("6 × 7 ÷ 2 − 1")).toBe(20);
  });

  it("knows constants and functions", () => {
    expect(evaluate("pi")).toBeCloseTo(Math.PI);
    // Implicit multiplication is not supported: it is an error, not a guess.
    expect(() => evaluate("2π")).toThrow(MathError);
    expect(() => evaluate("2 pi")).toThrow(MathError);
    expect(evaluate("sqrt(16) + abs(-2)")).toBe(6);
    expect(evaluate("sin(0) + cos(0)")).toBe(1);
    expect(evaluate("max(1, 5, 3) + min(4, 2)")).toBe(7);
    expect(evaluate("mean(1, 2, 3, 4)")).toBe(2.5);
    expect(evaluate("log(1000)")).toBeCloseTo(3);
  });

  it("reports errors instead of NaN or Infinity", () => {
    expect(() => evaluate("1 / 0")).toThrow("division by zero");
    expect(() => evaluate("5 % (2 - 2)")).toThrow("division by zero");
    expect(() => evaluate("")).toThrow("empty expression");
    expect(() => evaluate("2 +")).toThrow("unexpected end");
    expect(() => evaluate("(1 + 2")).toThrow('expected ")"');
    expect(() => evaluate("1 + 2)")).toThrow('unexpected ")"');
    expect(() => evaluate("alert(1)")).toThrow('unknown function "alert"');
    expect(() => evaluate("window")).toThrow('unknown name "window"');
    expect(() => evaluate("1; 2")).toThrow('unexpected ";"');
    expect(() => evaluate("sqrt(-1)")).toThrow("negative");
    expect(() => evaluate("10 ^ 400")).toThrow("too large");
    expect(() => evaluate("sqrt(1, 2)")).toThrow("takes 1 argument");
    expect(() => evaluate("(".repeat(300) + "1" + ")".repeat(300))).toThrow("nested too deeply");
  });

  it("formats without float noise", () => {
    expect(formatNumber(evaluate("0.1 + 0.2"))).toBe("0.3");
    expect(formatNumber(42)).toBe("42");
    expect(formatNumber(1 / 3)).toBe("0.333333333333");
  });
});
