//! `math.*`: an expression evaluator and statistics, in pure Rust.
//!
//! The grammar, loosest binding first:
//!
//! ```text
//! expr    := term (('+' | '-') term)*
//! term    := unary (('*' | '/' | '%') unary)*
//! unary   := ('-' | '+') unary | power
//! power   := primary ('^' unary)?          right-associative; -2^2 = -(2^2)
//! primary := number | constant | name '(' expr (',' expr)* ')' | '(' expr ')'
//! ```
//!
//! `×`, `÷` and `−` are read as `*`, `/` and `-`, so calculator keys can append what
//! they show. Every result is finite: division by zero, a domain error (`sqrt(-1)`,
//! `ln(0)`) or an overflow is a typed [`MathError`], never NaN or infinity.

/// Why an expression or a statistic has no value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MathError {
    #[error("syntax error at character {position}: {reason}")]
    Parse { position: usize, reason: String },
    #[error("division by zero")]
    DivisionByZero,
    #[error("{function}: {reason}")]
    Domain {
        function: &'static str,
        reason: &'static str,
    },
    #[error("{function} takes {expected} argument(s), got {got}")]
    Arity {
        function: String,
        expected: &'static str,
        got: usize,
    },
    #[error("the result is too large to represent")]
    Overflow,
    #[error("{function} needs {needs}")]
    NotEnoughValues {
        function: &'static str,
        needs: &'static str,
    },
}

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 200;

/// Evaluates `expression`.
pub fn evaluate(expression: &str) -> Result<f64, MathError> {
    let tokens = tokenize(expression)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let v = p.expr()?;
    if let Some(t) = p.tokens.get(p.pos) {
        return Err(MathError::Parse {
            position: t.at,
            reason: format!("unexpected {}", t.kind),
        });
    }
    finite(v)
}

/// Rounds to 15 significant digits, so `0.1 + 0.2` shows as `0.3`.
pub fn tidy(x: f64) -> f64 {
    format!("{x:.14e}").parse().unwrap_or(x)
}

fn finite(v: f64) -> Result<f64, MathError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(MathError::Overflow)
    }
}

pub fn sum(v: &[f64]) -> Result<f64, MathError> {
    non_empty("sum", v)?;
    finite(v.iter().sum())
}

pub fn mean(v: &[f64]) -> Result<f64, MathError> {
    non_empty("mean", v)?;
    finite(v.iter().sum::<f64>() / v.len() as f64)
}

pub fn median(v: &[f64]) -> Result<f64, MathError> {
    non_empty("median", v)?;
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let mid = s.len() / 2;
    finite(if s.len().is_multiple_of(2) {
        (s[mid - 1] + s[mid]) / 2.0
    } else {
        s[mid]
    })
}

/// The sample standard deviation (n − 1 in the denominator).
pub fn stdev(v: &[f64]) -> Result<f64, MathError> {
    if v.len() < 2 {
        return Err(MathError::NotEnoughValues {
            function: "stdev",
            needs: "at least two values",
        });
    }
    let m = mean(v)?;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64;
    finite(var.sqrt())
}

pub fn min(v: &[f64]) -> Result<f64, MathError> {
    non_empty("min", v)?;
    Ok(v.iter().copied().fold(f64::INFINITY, f64::min))
}

pub fn max(v: &[f64]) -> Result<f64, MathError> {
    non_empty("max", v)?;
    Ok(v.iter().copied().fold(f64::NEG_INFINITY, f64::max))
}

fn non_empty(function: &'static str, v: &[f64]) -> Result<(), MathError> {
    if v.is_empty() {
        return Err(MathError::NotEnoughValues {
            function,
            needs: "at least one value",
        });
    }
    Ok(())
}

/// A named constant.
pub fn constant(name: &str) -> Option<f64> {
    match name {
        "pi" | "π" => Some(std::f64::consts::PI),
        "e" => Some(std::f64::consts::E),
        "tau" => Some(std::f64::consts::TAU),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Num(f64),
    Name(String),
    Op(char),
    Open,
    Close,
    Comma,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::Num(n) => write!(f, "number {n}"),
            Kind::Name(n) => write!(f, "name `{n}`"),
            Kind::Op(c) => write!(f, "`{c}`"),
            Kind::Open => f.write_str("`(`"),
            Kind::Close => f.write_str("`)`"),
            Kind::Comma => f.write_str("`,`"),
        }
    }
}

struct Token {
    kind: Kind,
    /// Character offset in the expression, for errors.
    at: usize,
}

fn tokenize(s: &str) -> Result<Vec<Token>, MathError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = i;
        let kind = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '0'..='9' | '.' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                // An exponent: 1e5, 2.5E-3.
                if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                    let mut j = i + 1;
                    if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                        j += 1;
                    }
                    if j < chars.len() && chars[j].is_ascii_digit() {
                        while j < chars.len() && chars[j].is_ascii_digit() {
                            j += 1;
                        }
                        i = j;
                    }
                }
                let text: String = chars[start..i].iter().collect();
                let n = text.parse::<f64>().map_err(|_| MathError::Parse {
                    position: start,
                    reason: format!("{text:?} is not a number"),
                })?;
                out.push(Token {
                    kind: Kind::Num(n),
                    at,
                });
                continue;
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push(Token {
                    kind: Kind::Name(chars[start..i].iter().collect::<String>().to_lowercase()),
                    at,
                });
                continue;
            }
            '+' | '-' | '*' | '/' | '%' | '^' => Kind::Op(c),
            '×' | '·' => Kind::Op('*'),
            '÷' => Kind::Op('/'),
            '−' => Kind::Op('-'),
            '(' => Kind::Open,
            ')' => Kind::Close,
            ',' => Kind::Comma,
            other => {
                return Err(MathError::Parse {
                    position: at,
                    reason: format!("unexpected character {other:?}"),
                });
            }
        };
        out.push(Token { kind, at });
        i += 1;
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Kind> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    fn end_position(&self) -> usize {
        self.tokens.last().map_or(0, |t| t.at + 1)
    }

    fn error<T>(&self, reason: impl Into<String>) -> Result<T, MathError> {
        let position = self
            .tokens
            .get(self.pos)
            .map_or_else(|| self.end_position(), |t| t.at);
        Err(MathError::Parse {
            position,
            reason: reason.into(),
        })
    }

    fn expr(&mut self) -> Result<f64, MathError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.error("the expression is nested too deeply");
        }
        let mut v = self.term()?;
        while let Some(Kind::Op(op @ ('+' | '-'))) = self.peek() {
            let op = *op;
            self.pos += 1;
            let r = self.term()?;
            v = finite(if op == '+' { v + r } else { v - r })?;
        }
        self.depth -= 1;
        Ok(v)
    }

    fn term(&mut self) -> Result<f64, MathError> {
        let mut v = self.unary()?;
        while let Some(Kind::Op(op @ ('*' | '/' | '%'))) = self.peek() {
            let op = *op;
            self.pos += 1;
            let r = self.unary()?;
            v = match op {
                '*' => finite(v * r)?,
                _ if r == 0.0 => return Err(MathError::DivisionByZero),
                '/' => finite(v / r)?,
                _ => finite(v % r)?,
            };
        }
        Ok(v)
    }

    fn unary(&mut self) -> Result<f64, MathError> {
        match self.peek() {
            Some(Kind::Op('-')) => {
                self.pos += 1;
                self.nested(|p| p.unary()).map(|v| -v)
            }
            Some(Kind::Op('+')) => {
                self.pos += 1;
                self.nested(|p| p.unary())
            }
            _ => self.power(),
        }
    }

    fn nested(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<f64, MathError>,
    ) -> Result<f64, MathError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.error("the expression is nested too deeply");
        }
        let v = f(self)?;
        self.depth -= 1;
        Ok(v)
    }

    fn power(&mut self) -> Result<f64, MathError> {
        let base = self.primary()?;
        if let Some(Kind::Op('^')) = self.peek() {
            self.pos += 1;
            let exp = self.nested(|p| p.unary())?;
            if base == 0.0 && exp < 0.0 {
                return Err(MathError::DivisionByZero);
            }
            if base < 0.0 && exp.fract() != 0.0 {
                return Err(MathError::Domain {
                    function: "^",
                    reason: "a negative base needs a whole exponent",
                });
            }
            return finite(base.powf(exp));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<f64, MathError> {
        let Some(tok) = self.tokens.get(self.pos) else {
            return self.error("the expression ends too soon");
        };
        match tok.kind.clone() {
            Kind::Num(n) => {
                self.pos += 1;
                Ok(n)
            }
            Kind::Open => {
                self.pos += 1;
                let v = self.expr()?;
                self.expect_close()?;
                Ok(v)
            }
            Kind::Name(name) => {
                self.pos += 1;
                if self.peek() == Some(&Kind::Open) {
                    self.pos += 1;
                    let mut args = vec![self.expr()?];
                    while self.peek() == Some(&Kind::Comma) {
                        self.pos += 1;
                        args.push(self.expr()?);
                    }
                    self.expect_close()?;
                    call(&name, &args)
                } else {
                    constant(&name).map_or_else(
                        || {
                            self.pos -= 1;
                            self.error(format!("unknown name `{name}`"))
                        },
                        Ok,
                    )
                }
            }
            other => self.error(format!("unexpected {other}")),
        }
    }

    fn expect_close(&mut self) -> Result<(), MathError> {
        if self.peek() == Some(&Kind::Close) {
            self.pos += 1;
            Ok(())
        } else {
            self.error("expected `)`")
        }
    }
}

fn call(name: &str, args: &[f64]) -> Result<f64, MathError> {
    let one = |f: fn(f64) -> f64| -> Result<f64, MathError> {
        match args {
            [x] => finite(f(*x)),
            _ => Err(MathError::Arity {
                function: name.to_owned(),
                expected: "1",
                got: args.len(),
            }),
        }
    };
    let domain =
        |function: &'static str, reason: &'static str| MathError::Domain { function, reason };
    match name {
        "sin" => one(f64::sin),
        "cos" => one(f64::cos),
        "tan" => one(f64::tan),
        "asin" | "acos" if args.len() == 1 && !(-1.0..=1.0).contains(&args[0]) => Err(domain(
            if name == "asin" { "asin" } else { "acos" },
            "needs a value between -1 and 1",
        )),
        "asin" => one(f64::asin),
        "acos" => one(f64::acos),
        "atan" => one(f64::atan),
        "sqrt" if args.len() == 1 && args[0] < 0.0 => {
            Err(domain("sqrt", "needs a value of at least 0"))
        }
        "sqrt" => one(f64::sqrt),
        "abs" => one(f64::abs),
        "ln" | "log" | "log2" if args.len() == 1 && args[0] <= 0.0 => Err(MathError::Domain {
            function: match name {
                "ln" => "ln",
                "log" => "log",
                _ => "log2",
            },
            reason: "needs a value greater than 0",
        }),
        "ln" => one(f64::ln),
        "log" => one(f64::log10),
        "log2" => one(f64::log2),
        "exp" => one(f64::exp),
        "floor" => one(f64::floor),
        "ceil" => one(f64::ceil),
        "round" => one(f64::round),
        "min" => min(args),
        "max" => max(args),
        "sum" => sum(args),
        "mean" | "avg" => mean(args),
        "median" => median(args),
        "stdev" => stdev(args),
        _ => Err(MathError::Parse {
            position: 0,
            reason: format!("unknown function `{name}`"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(s: &str) -> f64 {
        evaluate(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn precedence_parentheses_and_associativity() {
        assert_eq!(eval("2 + 3 * 4"), 14.0);
        assert_eq!(eval("(2 + 3) * 4"), 20.0);
        assert_eq!(eval("2 ^ 3 ^ 2"), 512.0, "^ is right-associative");
        assert_eq!(eval("-2 ^ 2"), -4.0, "unary minus binds looser than ^");
        assert_eq!(eval("2 ^ -1"), 0.5);
        assert_eq!(eval("10 - 4 - 3"), 3.0, "- is left-associative");
        assert_eq!(eval("7 % 4"), 3.0);
        assert_eq!(eval("--3"), 3.0);
        assert_eq!(eval("1.5e3 + .5"), 1500.5);
        assert_eq!(eval("6 ÷ 2 × 3 − 1"), 8.0);
    }

    #[test]
    fn functions_constants_and_statistics() {
        assert!((eval("sin(pi / 2)") - 1.0).abs() < 1e-12);
        assert!((eval("cos(0) + ln(e)") - 2.0).abs() < 1e-12);
        assert_eq!(eval("sqrt(16) + abs(-2) + log(1000)"), 9.0);
        assert_eq!(eval("max(1, 5, 3) - min(4, 2)"), 3.0);
        assert_eq!(eval("median(3, 1, 2, 10)"), 2.5);
        assert_eq!(eval("mean(1, 2, 3, 4)"), 2.5);
        assert!(
            (stdev(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap() - 2.138_089_935).abs()
                < 1e-6
        );
        assert_eq!(sum(&[1.0, 2.0]).unwrap(), 3.0);
        assert_eq!(tidy(eval("0.1 + 0.2")), 0.3);
    }

    #[test]
    fn errors_are_typed_never_nan() {
        assert_eq!(evaluate("1 / 0"), Err(MathError::DivisionByZero));
        assert_eq!(evaluate("5 % (2 - 2)"), Err(MathError::DivisionByZero));
        assert_eq!(evaluate("0 ^ -1"), Err(MathError::DivisionByZero));
        assert!(matches!(
            evaluate("sqrt(-1)"),
            Err(MathError::Domain {
                function: "sqrt",
                ..
            })
        ));
        assert!(matches!(
            evaluate("ln(0)"),
            Err(MathError::Domain { function: "ln", .. })
        ));
        assert!(matches!(evaluate("asin(2)"), Err(MathError::Domain { .. })));
        assert!(matches!(
            evaluate("(-8) ^ 0.5"),
            Err(MathError::Domain { .. })
        ));
        assert_eq!(evaluate("10 ^ 400"), Err(MathError::Overflow));
        assert!(matches!(
            evaluate("sin(1, 2)"),
            Err(MathError::Arity { got: 2, .. })
        ));
        assert!(matches!(
            stdev(&[1.0]),
            Err(MathError::NotEnoughValues { .. })
        ));
        assert!(matches!(mean(&[]), Err(MathError::NotEnoughValues { .. })));
    }

    #[test]
    fn parse_errors_say_where() {
        assert_eq!(
            evaluate("2 + * 3"),
            Err(MathError::Parse {
                position: 4,
                reason: "unexpected `*`".into()
            })
        );
        assert!(
            matches!(evaluate("(1 + 2"), Err(MathError::Parse { reason, .. }) if reason == "expected `)`")
        );
        assert!(matches!(
            evaluate("1 2"),
            Err(MathError::Parse { position: 2, .. })
        ));
        assert!(matches!(evaluate(""), Err(MathError::Parse { .. })));
        assert!(matches!(
            evaluate("foo + 1"),
            Err(MathError::Parse { position: 0, .. })
        ));
        assert!(matches!(
            evaluate("1 $ 2"),
            Err(MathError::Parse { position: 2, .. })
        ));
        assert!(matches!(evaluate("nope(1)"), Err(MathError::Parse { .. })));
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(matches!(evaluate(&deep), Err(MathError::Parse { .. })));
        let minus = format!("{}1", "-".repeat(5000));
        assert!(matches!(evaluate(&minus), Err(MathError::Parse { .. })));
    }

    /// An arithmetic tree, its value computed directly, and two renderings of it.
    #[derive(Debug, Clone)]
    enum Tree {
        Num(i32),
        Neg(Box<Tree>),
        Bin(char, Box<Tree>, Box<Tree>),
    }

    impl Tree {
        fn value(&self) -> f64 {
            match self {
                Tree::Num(n) => f64::from(*n),
                Tree::Neg(t) => -t.value(),
                Tree::Bin('+', a, b) => a.value() + b.value(),
                Tree::Bin('-', a, b) => a.value() - b.value(),
                Tree::Bin(_, a, b) => a.value() * b.value(),
            }
        }

        /// Fully parenthesised: precedence cannot matter.
        fn full(&self) -> String {
            match self {
                Tree::Num(n) => format!("({n})"),
                Tree::Neg(t) => format!("(-{})", t.full()),
                Tree::Bin(op, a, b) => format!("({} {op} {})", a.full(), b.full()),
            }
        }

        /// Parentheses only where precedence needs them: the evaluator must get it right.
        fn minimal(&self) -> String {
            fn prec(t: &Tree) -> u8 {
                match t {
                    Tree::Num(n) if *n < 0 => 2,
                    Tree::Num(_) => 4,
                    Tree::Neg(_) => 2,
                    Tree::Bin('*', ..) => 2,
                    Tree::Bin(..) => 1,
                }
            }
            let wrap = |t: &Tree, min: u8| {
                if prec(t) < min {
                    format!("({})", t.minimal())
                } else {
                    t.minimal()
                }
            };
            match self {
                Tree::Num(n) => n.to_string(),
                Tree::Neg(t) => format!("-{}", wrap(t, 2)),
                // Left-associative: the right operand of - needs parentheses at equal precedence.
                Tree::Bin(op @ '*', a, b) => format!("{} {op} {}", wrap(a, 2), wrap(b, 3)),
                Tree::Bin(op, a, b) => format!("{} {op} {}", wrap(a, 1), wrap(b, 2)),
            }
        }
    }

    fn tree() -> impl proptest::strategy::Strategy<Value = Tree> {
        use proptest::prelude::*;
        let leaf = (-50i32..50).prop_map(Tree::Num);
        leaf.prop_recursive(5, 32, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|t| Tree::Neg(Box::new(t))),
                (
                    prop_oneof![Just('+'), Just('-'), Just('*')],
                    inner.clone(),
                    inner
                )
                    .prop_map(|(op, a, b)| Tree::Bin(op, Box::new(a), Box::new(b))),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn precedence_matches_direct_evaluation(t in tree()) {
            let expected = t.value();
            proptest::prop_assert_eq!(evaluate(&t.full()).unwrap(), expected, "{}", t.full());
            proptest::prop_assert_eq!(evaluate(&t.minimal()).unwrap(), expected, "{}", t.minimal());
        }

        #[test]
        fn evaluate_never_panics_and_is_finite(s in "[0-9+\\-*/%^(). a-z,]{0,60}") {
            if let Ok(v) = evaluate(&s) {
                proptest::prop_assert!(v.is_finite());
            }
        }
    }
}
