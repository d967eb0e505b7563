//! A lesson's question as something that can be graded: what kind of answer it takes, how the
//! demo's own output is turned into the measured answer, and the verdict.
//!
//! # In the lesson file
//! The `## Predict` section holds the question in prose and one fenced `answer` block:
//!
//! ```text
//! kind: number                    # number, choice or ranking
//! unit: x                         # shown after numbers (number)
//! tolerance: 25%                  # relative (25%) or absolute (3) (number)
//! measure: demo 3 wall_s / demo 2 wall_s
//! a: under 0.5 s | ..0.5          # choice: an option, then the range it covers
//! rank threads: demo 2 wall_s     # ranking: one line per thing ranked
//! order: ascending                # ranking: smallest first (or descending)
//! ```
//!
//! # Measured, never written down
//! `measure` reads the JSON each demo wrote as it ran (`concur` commands write their `--json`
//! object to `$CONCUR_JSON_TO` as well as their usual output): `demo N PATH` is a number at PATH
//! (`a.b`, `rows[0]`, `rows[strategy=threads]`) in demo N's JSON, and `demo N file NAME PATH`
//! reads file NAME from the demo's `--out` directory (for `compare`). Terms combine with `+`,
//! `-`, `*` and `/`, strictly left to right. So every figure in a verdict comes from the run the
//! learner just watched, on their machine.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// One option of a choice: what it says, and the measured values it covers (`lo <= x < hi`).
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub key: char,
    pub text: String,
    pub lo: f64,
    pub hi: f64,
}

/// What kind of answer a question takes.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Number {
        unit: String,
        tolerance: Tolerance,
    },
    Choice(Vec<Choice>),
    Ranking {
        /// (name, what measures it)
        items: Vec<(String, String)>,
        ascending: bool,
    },
}

#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Tolerance {
    /// Within this fraction of the measured value.
    Relative(f64),
    /// Within this much of it.
    Absolute(f64),
}

/// A parsed `answer` block.
#[derive(Clone, Debug, PartialEq)]
pub struct AnswerSpec {
    pub kind: Kind,
    /// How the measured value is computed (number, choice).
    pub measure: String,
    /// Ranking: what the order is of ("fastest first").
    pub label: String,
}

/// A learner's prediction, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Prediction {
    Number { value: f64 },
    Choice { key: char },
    Ranking { order: Vec<String> },
}

/// What was measured, as stored and shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// The value (number, choice), or each ranked item's value in the learner-independent
    /// measured order (ranking).
    pub values: Vec<(String, f64)>,
    /// One line: "measured 1.9x", "measured 0.03 s, which is a)".
    pub shown: String,
    pub right: bool,
}

impl AnswerSpec {
    /// Parse the lines of an `answer` block.
    pub fn parse(block: &str) -> anyhow::Result<AnswerSpec> {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in block.lines() {
            let line = line.split(" # ").next().unwrap_or(line).trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once(':')
                .with_context(|| format!("'{line}' is not 'key: value'"))?;
            fields.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
        let kind = match get("kind").as_deref() {
            Some("number") => Kind::Number {
                unit: get("unit").unwrap_or_default(),
                tolerance: tolerance(&get("tolerance").context("a number needs a tolerance")?)?,
            },
            Some("choice") => Kind::Choice(choices(&fields)?),
            Some("ranking") => Kind::Ranking {
                items: fields
                    .iter()
                    .filter_map(|(k, v)| {
                        Some((k.strip_prefix("rank ")?.trim().to_owned(), v.clone()))
                    })
                    .collect(),
                ascending: get("order").as_deref() != Some("descending"),
            },
            other => bail!("kind must be number, choice or ranking, not {other:?}"),
        };
        let measure = get("measure").unwrap_or_default();
        if measure.is_empty() && !matches!(kind, Kind::Ranking { .. }) {
            bail!("a {} needs a measure", kind.name());
        }
        if let Kind::Ranking { items, .. } = &kind {
            if items.len() < 2 {
                bail!("a ranking needs two or more 'rank NAME: MEASURE' lines");
            }
        }
        Ok(AnswerSpec {
            kind,
            measure,
            label: get("label").unwrap_or_default(),
        })
    }

    /// Every measure expression in the block (to check them against the lesson's demos).
    pub fn measures(&self) -> Vec<&str> {
        match &self.kind {
            Kind::Ranking { items, .. } => items.iter().map(|(_, m)| m.as_str()).collect(),
            _ => vec![self.measure.as_str()],
        }
    }

    /// The prompt, with the options a choice offers.
    pub fn prompt(&self) -> String {
        match &self.kind {
            Kind::Number { unit, .. } => {
                let unit = if unit.is_empty() {
                    String::new()
                } else {
                    format!(", in {unit}")
                };
                format!("Your prediction (a number{unit}): ")
            }
            Kind::Choice(options) => {
                let mut p: String = options
                    .iter()
                    .map(|c| format!("  {}) {}\n", c.key, c.text))
                    .collect();
                let keys: Vec<String> = options.iter().map(|c| c.key.to_string()).collect();
                p.push_str(&format!("Your prediction ({}): ", keys.join(", ")));
                p
            }
            Kind::Ranking { items, .. } => {
                let names: Vec<&str> = items.iter().map(|(n, _)| n.as_str()).collect();
                format!(
                    "Rank {} ({}), names separated by spaces or commas: ",
                    names.join(", "),
                    if self.label.is_empty() {
                        "first to last"
                    } else {
                        &self.label
                    }
                )
            }
        }
    }

    /// Read a learner's answer; an error says what was wrong with it (the caller asks again).
    pub fn read(&self, input: &str) -> Result<Prediction, String> {
        let input = input.trim();
        if input.is_empty() {
            return Err("an empty answer is not a prediction: commit to one".into());
        }
        match &self.kind {
            Kind::Number { .. } => input
                .trim_end_matches(|c: char| c.is_alphabetic() || c == '%' || c == ' ')
                .replace(',', "")
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(|value| Prediction::Number { value })
                .ok_or_else(|| format!("'{input}' is not a number")),
            Kind::Choice(options) => {
                let key = input
                    .trim_end_matches(')')
                    .chars()
                    .next()
                    .map(|c| c.to_ascii_lowercase())
                    .filter(|_| input.trim_end_matches(')').chars().count() == 1);
                match key.filter(|k| options.iter().any(|c| c.key == *k)) {
                    Some(key) => Ok(Prediction::Choice { key }),
                    None => Err(format!(
                        "'{input}' is not one of {}",
                        options
                            .iter()
                            .map(|c| c.key.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                }
            }
            Kind::Ranking { items, .. } => {
                let names: Vec<String> = input
                    .split(|c: char| c == ',' || c.is_whitespace() || c == '>' || c == '<')
                    .filter(|t| !t.is_empty())
                    .map(|t| t.to_ascii_lowercase())
                    .collect();
                let mut order = Vec::new();
                for n in &names {
                    match items.iter().find(|(i, _)| i.to_ascii_lowercase() == *n) {
                        Some((i, _)) if !order.contains(i) => order.push(i.clone()),
                        Some((i, _)) => return Err(format!("{i} is named twice")),
                        None => return Err(format!("'{n}' is not one of the ranked names")),
                    }
                }
                if order.len() != items.len() {
                    return Err(format!("rank all {} of them", items.len()));
                }
                Ok(Prediction::Ranking { order })
            }
        }
    }

    /// The prediction in words: "1.5x", "b) about a second", "pool, threads, fork".
    pub fn show(&self, p: &Prediction) -> String {
        match (p, &self.kind) {
            (Prediction::Number { value }, Kind::Number { unit, .. }) => number(*value, unit),
            (Prediction::Choice { key }, Kind::Choice(options)) => options
                .iter()
                .find(|c| c.key == *key)
                .map(|c| format!("{}) {}", c.key, c.text))
                .unwrap_or_else(|| format!("{key})")),
            (Prediction::Ranking { order }, _) => order.join(", "),
            (p, _) => format!("{p:?} (a different kind of answer than this question takes)"),
        }
    }

    /// Measure from the demos' JSON (demo `n` wrote `json(n)`), and judge `prediction`.
    pub fn grade(&self, prediction: &Prediction, demos: &Demos) -> anyhow::Result<Measured> {
        match &self.kind {
            Kind::Number { unit, tolerance } => {
                let m = eval(&self.measure, demos)?;
                let Prediction::Number { value } = prediction else {
                    bail!("the stored prediction is not a number");
                };
                let slack = match tolerance {
                    Tolerance::Relative(f) => f * m.abs(),
                    Tolerance::Absolute(a) => *a,
                };
                let right = (value - m).abs() <= slack + 1e-9;
                let within = match tolerance {
                    Tolerance::Absolute(a) if *a == 0.0 => " (right means exactly)".to_owned(),
                    Tolerance::Absolute(a) if unit == "%" => {
                        format!(" (right means within {} points)", number(*a, ""))
                    }
                    Tolerance::Relative(f) => format!(" (right means within {:.0}%)", f * 100.0),
                    Tolerance::Absolute(a) => format!(" (right means within {})", number(*a, unit)),
                };
                Ok(Measured {
                    values: vec![("measured".into(), m)],
                    shown: format!("measured {}{within}", number(m, unit)),
                    right,
                })
            }
            Kind::Choice(options) => {
                let m = eval(&self.measure, demos)?;
                let hit = options.iter().find(|c| m >= c.lo && m < c.hi);
                let right = matches!((prediction, hit), (Prediction::Choice { key }, Some(c)) if c.key == *key);
                let shown = match hit {
                    Some(c) => {
                        format!("measured {}, which is {}) {}", number(m, ""), c.key, c.text)
                    }
                    None => format!("measured {}, which no option covers", number(m, "")),
                };
                Ok(Measured {
                    values: vec![("measured".into(), m)],
                    shown,
                    right,
                })
            }
            Kind::Ranking { items, ascending } => {
                let mut values = Vec::new();
                for (name, expr) in items {
                    values.push((name.clone(), eval(expr, demos)?));
                }
                values.sort_by(|a, b| a.1.total_cmp(&b.1));
                if !ascending {
                    values.reverse();
                }
                let order: Vec<String> = values.iter().map(|(n, _)| n.clone()).collect();
                let right = matches!(prediction, Prediction::Ranking { order: o } if *o == order);
                let shown = values
                    .iter()
                    .map(|(n, v)| format!("{n} ({})", number(*v, "")))
                    .collect::<Vec<_>>()
                    .join(", ");
                Ok(Measured {
                    values,
                    shown: format!("measured order: {shown}"),
                    right,
                })
            }
        }
    }
}

impl Kind {
    fn name(&self) -> &'static str {
        match self {
            Kind::Number { .. } => "number",
            Kind::Choice(_) => "choice",
            Kind::Ranking { .. } => "ranking",
        }
    }
}

/// `25%` or `3`.
fn tolerance(text: &str) -> anyhow::Result<Tolerance> {
    let t = text.trim();
    Ok(match t.strip_suffix('%') {
        Some(p) => Tolerance::Relative(p.trim().parse::<f64>()? / 100.0),
        None => Tolerance::Absolute(t.parse()?),
    })
}

/// `a: TEXT | RANGE` lines, in order.
fn choices(fields: &[(String, String)]) -> anyhow::Result<Vec<Choice>> {
    let mut out = Vec::new();
    for (k, v) in fields {
        let mut chars = k.chars();
        let (Some(key), None) = (chars.next(), chars.next()) else {
            continue;
        };
        if !key.is_ascii_lowercase() {
            continue;
        }
        let (text, range) = v
            .rsplit_once('|')
            .with_context(|| format!("option {key}: write 'TEXT | RANGE' (= 0, 1..20, 21..)"))?;
        let (lo, hi) = range_of(range.trim())?;
        out.push(Choice {
            key,
            text: text.trim().to_owned(),
            lo,
            hi,
        });
    }
    if out.len() < 2 {
        bail!("a choice needs two or more options (a: TEXT | RANGE)");
    }
    Ok(out)
}

/// `= 0`, `1..20`, `21..`, `..0.5`: the half-open range `[lo, hi)` (`= v` is v alone).
fn range_of(text: &str) -> anyhow::Result<(f64, f64)> {
    if let Some(v) = text.strip_prefix('=') {
        let v: f64 = v.trim().parse()?;
        return Ok((v - 1e-9, v + 1e-9));
    }
    let (lo, hi) = text
        .split_once("..")
        .with_context(|| format!("'{text}' is not a range (= 0, 1..20, 21.., ..0.5)"))?;
    let lo = if lo.trim().is_empty() {
        f64::NEG_INFINITY
    } else {
        lo.trim().parse()?
    };
    let hi = if hi.trim().is_empty() {
        f64::INFINITY
    } else {
        hi.trim().parse()?
    };
    Ok((lo, hi))
}

/// A number as a lesson shows it: three significant figures at most.
pub fn number(v: f64, unit: &str) -> String {
    let digits = if v.abs() >= 100.0 || v.fract() == 0.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    let sep = if unit.is_empty() || unit == "x" || unit == "%" {
        ""
    } else {
        " "
    };
    format!("{v:.digits$}{sep}{unit}")
}

/// What the demos of one showing wrote: demo `n` (1-based) ran `args[n-1]`, wrote its JSON (if
/// it has one) to `dir/demo-N.json`, and exited with `ok[n-1]`.
pub struct Demos<'a> {
    pub dir: &'a Path,
    pub args: &'a [Vec<String>],
    pub ok: &'a [bool],
}

impl Demos<'_> {
    /// The JSON of `file` (demo N's own JSON, or a file in its `--out` directory).
    fn json(&self, n: usize, file: Option<&str>) -> anyhow::Result<Value> {
        let args = self
            .args
            .get(n.wrapping_sub(1))
            .with_context(|| format!("there is no demo {n}"))?;
        if !self.ok.get(n - 1).copied().unwrap_or(false) {
            bail!(
                "demo {n} (concur {}) did not run to the end",
                args.join(" ")
            );
        }
        let path = match file {
            None => self.dir.join(format!("demo-{n}.json")),
            Some(name) => {
                let out = args
                    .iter()
                    .position(|a| a == "--out")
                    .and_then(|i| args.get(i + 1))
                    .map(String::as_str)
                    .unwrap_or("concur-report");
                Path::new(out).join(name)
            }
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("demo {n} wrote no result ({})", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("demo {n}'s result is not JSON"))
    }
}

/// Evaluate `demo N PATH`, `demo N file NAME PATH` and numbers joined by `+ - * /`, left to
/// right.
pub fn eval(expr: &str, demos: &Demos) -> anyhow::Result<f64> {
    let words: Vec<&str> = expr.split_whitespace().collect();
    let mut i = 0;
    let mut acc: Option<f64> = None;
    let mut op = '+';
    while i < words.len() {
        let (value, used) = term(&words[i..], demos)?;
        i += used;
        acc = Some(match (acc, op) {
            (None, _) => value,
            (Some(a), '+') => a + value,
            (Some(a), '-') => a - value,
            (Some(a), '*') => a * value,
            (Some(a), _) => {
                if value == 0.0 {
                    bail!("{expr}: division by zero");
                }
                a / value
            }
        });
        if let Some(w) = words.get(i) {
            op = match *w {
                "+" | "-" | "*" | "/" => w.chars().next().unwrap_or('+'),
                other => bail!("{expr}: expected + - * / before '{other}'"),
            };
            i += 1;
        }
    }
    acc.with_context(|| format!("'{expr}' measures nothing"))
}

/// One term: a number, or `demo N [file NAME] PATH`; how many words it used.
fn term(words: &[&str], demos: &Demos) -> anyhow::Result<(f64, usize)> {
    if let Ok(v) = words[0].parse::<f64>() {
        return Ok((v, 1));
    }
    if words[0] != "demo" || words.len() < 3 {
        bail!("'{}' is not a number or 'demo N PATH'", words.join(" "));
    }
    let n: usize = words[1]
        .parse()
        .with_context(|| format!("demo '{}'", words[1]))?;
    let (file, path, used) = if words[2] == "file" && words.len() >= 5 {
        (Some(words[3]), words[4], 5)
    } else {
        (None, words[2], 3)
    };
    let json = demos.json(n, file)?;
    let v = lookup(&json, path).with_context(|| format!("demo {n} has no number at {path}"))?;
    Ok((v, used))
}

/// The number at `a.b[0].c` or `rows[strategy=threads].x` (booleans count as 0 and 1).
pub fn lookup(json: &Value, path: &str) -> Option<f64> {
    let mut at = json;
    for part in path.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, Some(rest.strip_suffix(']')?)),
            None => (part, None),
        };
        if !name.is_empty() {
            at = at.get(name)?;
        }
        if let Some(index) = index {
            at = match index.split_once('=') {
                Some((k, v)) => at.as_array()?.iter().find(|e| {
                    e.get(k).is_some_and(|x| {
                        x.as_str() == Some(v)
                            || serde_json::from_str::<Value>(v).ok().as_ref() == Some(x)
                    })
                })?,
                None => at.get(index.parse::<usize>().ok()?)?,
            };
        }
    }
    at.as_f64().or_else(|| at.as_bool().map(|b| b as u8 as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demos_with(json: &str) -> (tempfile::TempDir, Vec<Vec<String>>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("demo-1.json"), json).unwrap();
        (dir, vec![vec!["run".into()]])
    }

    #[test]
    fn measures_come_from_the_demos_json() {
        let (dir, args) = demos_with(
            r#"{"wall_s": 2.0, "work_s": 1.5, "rows": [{"strategy": "fork", "x": 1}, {"strategy": "threads", "x": 7}]}"#,
        );
        let d = Demos {
            dir: dir.path(),
            args: &args,
            ok: &[true],
        };
        assert_eq!(
            eval("100 * demo 1 work_s / demo 1 wall_s", &d).unwrap(),
            75.0
        );
        assert_eq!(
            eval("demo 1 rows[strategy=threads].x - demo 1 rows[0].x", &d).unwrap(),
            6.0
        );
        assert!(eval("demo 2 wall_s", &d).is_err(), "no demo 2");
        assert!(eval("demo 1 nope", &d).is_err());
        let failed = Demos {
            dir: dir.path(),
            args: &args,
            ok: &[false],
        };
        assert!(
            eval("demo 1 wall_s", &failed).is_err(),
            "a failed demo measures nothing"
        );
    }

    #[test]
    fn each_kind_reads_its_answers_and_grades_them() {
        let (dir, args) = demos_with(r#"{"a": 1.9, "b": 0.03, "t": 3, "p": 2, "f": 1}"#);
        let d = Demos {
            dir: dir.path(),
            args: &args,
            ok: &[true],
        };
        let n =
            AnswerSpec::parse("kind: number\nunit: x\ntolerance: 25%\nmeasure: demo 1 a").unwrap();
        assert!(n.read("").is_err() && n.read("fast").is_err());
        let p = n.read("1.6x").unwrap();
        assert_eq!(p, Prediction::Number { value: 1.6 });
        assert!(n.grade(&p, &d).unwrap().right);
        assert!(
            !n.grade(&Prediction::Number { value: 1.0 }, &d)
                .unwrap()
                .right
        );

        let c = AnswerSpec::parse("kind: choice\nmeasure: demo 1 b\na: under 0.5 s | ..0.5\nb: about a second | 0.5..10\nc: minutes | 10..").unwrap();
        assert!(c.read("d").is_err());
        assert!(c.grade(&c.read("A)").unwrap(), &d).unwrap().right);
        let wrong = c.grade(&c.read("c").unwrap(), &d).unwrap();
        assert!(
            !wrong.right && wrong.shown.contains("which is a)"),
            "{}",
            wrong.shown
        );

        let r = AnswerSpec::parse("kind: ranking\nlabel: fastest first\norder: descending\nrank threads: demo 1 t\nrank pool: demo 1 p\nrank fork: demo 1 f").unwrap();
        assert!(r.read("threads pool").is_err() && r.read("threads pool pool").is_err());
        assert!(
            r.grade(&r.read("threads, pool, fork").unwrap(), &d)
                .unwrap()
                .right
        );
        assert!(
            !r.grade(&r.read("pool threads fork").unwrap(), &d)
                .unwrap()
                .right
        );
    }
}
