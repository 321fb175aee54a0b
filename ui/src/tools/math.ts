/**
 * A small, safe arithmetic evaluator for `math.*` tools: a tokenizer and a
 * recursive-descent parser over numbers, + - × ÷ % ^, parentheses, unary
 * minus, constants (pi, e) and a fixed set of functions. No eval, no access to
 * anything but these. Errors (a parse error, division by zero, a result that
 * is not finite) are thrown as MathError with a readable message, never NaN.
 *
 * Grammar (^ is right-associative and binds tighter than unary minus, as in
 * maths: -2^2 = -4):
 *   expr   := term (('+' | '-') term)*
 *   term   := unary (('*' | '/' | '%') unary)*
 *   unary  := ('-' | '+') unary | power
 *   power  := atom ('^' unary)?
 *   atom   := number | ident | ident '(' args ')' | '(' expr ')'
 */
export class MathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MathError";
  }
}

type Token = { kind: "num"; value: number; pos: number } | { kind: "id"; value: string; pos: number } | { kind: "op"; value: string; pos: number };

const CONSTANTS: Record<string, number> = { pi: Math.PI, e: Math.E, tau: 2 * Math.PI };

const FUNCTIONS: Record<string, (args: number[]) => number> = {
  sqrt: ([x]) => {
    if (x! < 0) throw new MathError("square root of a negative number");
    return Math.sqrt(x!);
  },
  abs: ([x]) => Math.abs(x!),
  sin: ([x]) => Math.sin(x!),
  cos: ([x]) => Math.cos(x!),
  tan: ([x]) => Math.tan(x!),
  asin: ([x]) => Math.asin(x!),
  acos: ([x]) => Math.acos(x!),
  atan: ([x]) => Math.atan(x!),
  ln: ([x]) => {
    if (x! <= 0) throw new MathError("logarithm of a non-positive number");
    return Math.log(x!);
  },
  log: ([x]) => {
    if (x! <= 0) throw new MathError("logarithm of a non-positive number");
    return Math.log10(x!);
  },
  exp: ([x]) => Math.exp(x!),
  floor: ([x]) => Math.floor(x!),
  ceil: ([x]) => Math.ceil(x!),
  round: ([x]) => Math.round(x!),
  min: (xs) => Math.min(...xs),
  max: (xs) => Math.max(...xs),
  sum: (xs) => xs.reduce((a, b) => a + b, 0),
  mean: (xs) => xs.reduce((a, b) => a + b, 0) / xs.length,
  avg: (xs) => xs.reduce((a, b) => a + b, 0) / xs.length,
};
const ARITY: Record<string, number> = { min: -1, max: -1, sum: -1, mean: -1, avg: -1 };

const MAX_LENGTH = 1000;

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (/[0-9.]/.test(c)) {
      const m = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(i));
      if (!m) throw new MathError(`unexpected "${c}" at ${i + 1}`);
      out.push({ kind: "num", value: Number(m[0]), pos: i });
      i += m[0].length;
    } else if (/[a-zA-Z_π]/.test(c)) {
      const m = /^(?:π|[a-zA-Z_][a-zA-Z_0-9]*)/.exec(src.slice(i))!;
      out.push({ kind: "id", value: m[0] === "π" ? "pi" : m[0].toLowerCase(), pos: i });
      i += m[0].length;
    } else if ("+-*/%^(),×÷−".includes(c)) {
      const value = c === "×" ? "*" : c === "÷" ? "/" : c === "−" ? "-" : c;
      // `**` is a power too.
      if (c === "*" && src[i + 1] === "*") {
        out.push({ kind: "op", value: "^", pos: i });
        i += 2;
      } else {
        out.push({ kind: "op", value, pos: i });
        i++;
      }
    } else {
      throw new MathError(`unexpected "${c}" at ${i + 1}`);
    }
  }
  return out;
}

export function evaluate(expression: string): number {
  if (expression.length > MAX_LENGTH) throw new MathError(`expression longer than ${MAX_LENGTH} characters`);
  const tokens = tokenize(expression);
  if (tokens.length === 0) throw new MathError("empty expression");
  let p = 0;
  let depth = 0;

  const peek = () => tokens[p];
  const isOp = (v: string) => {
    const t = tokens[p];
    return t?.kind === "op" && t.value === v;
  };
  const expectOp = (v: string) => {
    if (!isOp(v)) {
      const t = tokens[p];
      throw new MathError(t ? `expected "${v}" at ${t.pos + 1}` : `expected "${v}" at the end`);
    }
    p++;
  };

  function expr(): number {
    if (++depth > 200) throw new MathError("expression nested too deeply");
    let v = term();
    while (isOp("+") || isOp("-")) {
      const op = tokens[p++]!.value;
      const r = term();
      v = op === "+" ? v + r : v - r;
    }
    depth--;
    return v;
  }
  function term(): number {
    let v = unary();
    while (isOp("*") || isOp("/") || isOp("%")) {
      const op = tokens[p++]!.value;
      const r = unary();
      if ((op === "/" || op === "%") && r === 0) throw new MathError("division by zero");
      v = op === "*" ? v * r : op === "/" ? v / r : v % r;
    }
    return v;
  }
  function unary(): number {
    if (isOp("-")) {
      p++;
      return -unary();
    }
    if (isOp("+")) {
      p++;
      return unary();
    }
    return power();
  }
  function power(): number {
    const base = atom();
    if (isOp("^")) {
      p++;
      return base ** unary();
    }
    return base;
  }
  function atom(): number {
    const t = peek();
    if (!t) throw new MathError("unexpected end of expression");
    if (t.kind === "num") {
      p++;
      return t.value;
    }
    if (t.kind === "id") {
      p++;
      if (isOp("(")) {
        const fn = FUNCTIONS[t.value];
        if (!fn) throw new MathError(`unknown function "${t.value}"`);
        p++;
        const args: number[] = [];
        if (!isOp(")")) {
          args.push(expr());
          while (isOp(",")) {
            p++;
            args.push(expr());
          }
        }
        expectOp(")");
        const arity = ARITY[t.value] ?? 1;
        if (arity === -1 ? args.length === 0 : args.length !== arity) {
          throw new MathError(`${t.value}() takes ${arity === -1 ? "at least one argument" : `${arity} argument`}`);
        }
        return fn(args);
      }
      const c = CONSTANTS[t.value];
      if (c === undefined) throw new MathError(`unknown name "${t.value}"`);
      return c;
    }
    if (t.value === "(") {
      p++;
      const v = expr();
      expectOp(")");
      return v;
    }
    throw new MathError(`unexpected "${t.value}" at ${t.pos + 1}`);
  }

  const value = expr();
  if (p < tokens.length) {
    const t = tokens[p]!;
    throw new MathError(`unexpected "${t.kind === "num" ? t.value : t.value}" at ${t.pos + 1}`);
  }
  if (!Number.isFinite(value)) throw new MathError(Number.isNaN(value) ? "result is not a number" : "result is too large");
  return value;
}

/** A result as a calculator shows it: no float noise (0.1+0.2 → 0.3). */
export function formatNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  return String(Number.parseFloat(n.toPrecision(12)));
}
