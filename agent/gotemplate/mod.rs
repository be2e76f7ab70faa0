//! Go's `text/template`, reproduced: the engine behind Prometheus-style rule templates
//! (`rules::template`, the labels and annotations of alerting rules) and Alertmanager-style
//! notification templates ([`alertmanager`], for `alerting` and `notify`).
//!
//! `lex` → `parse` → `exec`, Go's `fmt` output in `gofmt` and `printf`, the function table in
//! `funcs`, values in `value`. The engine knows nothing about alert rules or notifications:
//! an adapter brings
//! - a [`FuncMap`]: Go's builtins, the [`Shared`] functions its Go original has, and its own
//!   functions ([`FuncMap::with_custom`]);
//! - a [`Data`]: the root value (dot) of a render and the implementation of its own
//!   functions, which may hold per-render state (Prometheus's `query` reaches the rule
//!   engine at the evaluation time);
//! - [`Object`]s for its Go types (structs such as Alertmanager's `Alert`, named slices and
//!   maps with methods such as `Alerts.Firing` or `KV.SortedPairs`, Prometheus's query
//!   samples).
//!
//! # Why a trait for the data
//! The data of a render is behind the [`Data`] and [`Object`] traits, not an enum of known
//! shapes, because the two shapes (and any later one) belong to different stages: an enum
//! would make the engine import the rule engine's query results and the alerting stage's
//! alerts, and every new template context would edit the engine. The traits mirror what Go's
//! `text/template` gets from reflection (a field or method by name, a kind, a printable
//! field list), so the engine prints, ranges over and compares adapter values exactly as Go
//! does without knowing them. Values the engine creates itself (numbers, strings,
//! `map[string]string`, lists, times) stay enum variants, so the common paths allocate
//! nothing and borrow the caller's label sets.
//!
//! # Template sets
//! [`Template::parse`] parses one text (its `{{define}}` blocks included) under a name;
//! [`Template::add`] parses another file into the same set, as Go's `ParseFiles` does (a later
//! definition of a name replaces an earlier one unless its body is empty), and
//! [`Template::execute`] runs any named template of the set.
//!
//! # Why not a crate
//! `gtmpl` (last release 0.7.1, August 2021) is unmaintained and lacks `html`/`js` and a
//! faithful `printf`. `gotmpl` (0.6, active) is a good Go port, but its `missingkey=zero`
//! prints `<no value>` for an absent label where Prometheus prints nothing (its values are
//! untyped, so a `map[string]string`'s zero value cannot exist), its functions must be
//! `'static` closures registered before parsing (so `query` cannot reach a per-render engine),
//! and its execution errors carry no position. Byte-for-byte agreement with promtool's
//! expected annotations needs all three, so the interpreter is ours.
//!
//! # Deliberate limits (each is an explicit error, never silent output)
//! Complex and hexadecimal-float literals, `\x`/octal escapes of non-ASCII bytes, `call`,
//! `now`, `tmpl` (HTML mode only), methods on `*time.Time` other than `Format`, `String`,
//! `Unix`, `UnixMilli`, `UTC`, `Year`, and methods on `*time.Duration` other than `String`,
//! `Hours`, `Minutes`, `Seconds`, `Milliseconds`, `Microseconds`, `Nanoseconds` fail at parse
//! or execution with a message naming the construct. Control structures and parentheses nest
//! at most 100 levels in a template's text, and `{{template}}` calls and control bodies at
//! most 300 levels while rendering (Go's limits are higher; a render runs on a worker
//! thread's fixed stack).
//!
//! # Known differences that are not errors
//! - A pointer inside a composite value prints as `&{...}` where Go prints its address, which
//!   no test can expect anyway.
//! - `match` / `reReplaceAll` use the `regex` crate: RE2 syntax as in Go, but `\d`, `\w`,
//!   `\s`, `\b` are Unicode-aware (Go: ASCII) and `\Q...\E` is a compile error.
//! - `toUpper` / `toLower` / `title` use Rust's case tables rune by rune; they agree with Go's
//!   except in rare Unicode corners.
//! - Parse errors give `line:column` (1-based, in the text as written), where Go gives only
//!   the line.
//!
//! A float prints as Go's `%v` does, which is `strconv.FormatFloat(v, 'g', -1, 64)`:
//! shortest round-trip digits, in exponent form when the decimal exponent is below -4 or at
//! least 6 (`123456`, `1.234567e+06`, `1e+21`, `0.0001`, `1e-05`). The threshold of 21 belongs
//! to Go's JSON encoder, not to `fmt`.

#![forbid(unsafe_code)]

pub mod alertmanager;
mod exec;
mod funcs;
pub(crate) use funcs::query_escape;
pub(crate) mod gofmt;
mod lex;
mod parse;
mod printf;
mod value;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use regex::Regex;

pub use funcs::{FuncMap, Param, Shared, Signature};
pub use gofmt::GoTime;
pub use value::{Kind, Object, Value};

/// What a render runs over: the root value and the adapter's own functions.
///
/// An adapter implements it for every `'a` its borrowed data outlives
/// (`impl<'a, 'x: 'a> Data<'a> for MyData<'x>`), so one render can borrow the data, the
/// template and the caller's label sets for the same `'a`.
pub trait Data<'a> {
    /// Dot and `$` when the template starts.
    fn root(&self) -> Value<'a>;

    /// Calls the adapter's function registered as `name` with `id`
    /// ([`FuncMap::with_custom`]); arity and parameter types are already checked. An `Err`
    /// is the function's error in Go's words (the engine adds `error calling NAME: `).
    fn call(&self, id: u16, name: &str, args: Vec<Value<'a>>) -> Result<Value<'a>, String> {
        let _ = (id, args);
        Err(format!("function {name} is not implemented"))
    }
}

/// A template that failed to parse or to render, in Go's words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A syntax error; `line` and `column` (1-based) point into the text as written (without
    /// any prefix given to [`Template::parse_with_prefix`]).
    #[error("template: {name}:{line}:{column}: {message}")]
    Parse {
        name: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A failure while rendering: `file` is the name the failing template was parsed under,
    /// `line` and `column` are Go's (the column is a 0-based byte offset and, on line 1,
    /// counts a prefix), `template` is the executing template's name and `context` the
    /// failing node's source.
    #[error("template: {file}:{line}:{column}: executing \"{template}\" at <{context}>: {message}")]
    Exec {
        file: String,
        template: String,
        line: usize,
        column: usize,
        context: String,
        message: String,
    },
    /// [`Template::execute`] named a template the set does not define.
    #[error("template: no template {name:?} associated with template {set:?}")]
    NotDefined { name: String, set: String },
}

/// One parsed template of a set and the file it came from.
pub(crate) struct Tree {
    file: usize,
    nodes: Vec<parse::Node>,
}

/// One parsed text.
struct Source {
    name: String,
    /// The text as parsed (prefix included).
    text: String,
}

/// A parsed template set: a top-level template and every `{{define}}` of every file added.
pub struct Template {
    name: String,
    /// The top-level text as written (without a prefix).
    text: String,
    /// Set when the text has no `{{` and nothing was added: rendering is a copy.
    plain: bool,
    sources: Vec<Source>,
    trees: HashMap<String, Tree>,
    /// Compiled `match` / `reReplaceAll` patterns, shared across renders.
    regexes: Mutex<HashMap<String, Arc<Regex>>>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// 1-based line and Go's 0-based byte column of `pos` in `src`.
fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let before = &src.as_bytes()[..pos];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let col = match before.iter().rposition(|&b| b == b'\n') {
        Some(nl) => pos - nl - 1,
        None => pos,
    };
    (line, col)
}

/// Parses `prefix` + `text`, reporting positions in `text`.
fn parse_source(
    name: &str,
    prefix: &str,
    text: &str,
    funcs: &FuncMap,
) -> Result<(String, parse::Trees), Error> {
    let source = format!("{prefix}{text}");
    let parse_err = |pos: usize, message: String| {
        let (line, col) = line_col(&source, pos);
        let column = if line == 1 {
            col.saturating_sub(prefix.len())
        } else {
            col
        } + 1;
        Error::Parse {
            name: name.to_string(),
            line,
            column,
            message,
        }
    };
    let toks = lex::lex(&source).map_err(|e| parse_err(e.pos, e.msg))?;
    let trees = parse::parse(name, toks, funcs).map_err(|e| parse_err(e.pos, e.msg))?;
    Ok((source, trees))
}

impl Template {
    /// Parses `text` (and its `{{define}}` blocks) as the template `name`, with the functions
    /// of `funcs`.
    pub fn parse(name: &str, text: &str, funcs: &FuncMap) -> Result<Template, Error> {
        Self::parse_with_prefix(name, "", text, funcs)
    }

    /// Parses `prefix` + `text`: Prometheus puts variable definitions in front of every rule
    /// template. Parse errors point into `text`; execution errors count the prefix, as Go's
    /// do.
    pub fn parse_with_prefix(
        name: &str,
        prefix: &str,
        text: &str,
        funcs: &FuncMap,
    ) -> Result<Template, Error> {
        let mut t = Template {
            name: name.to_string(),
            text: text.to_string(),
            plain: !text.contains("{{"),
            sources: Vec::new(),
            trees: HashMap::new(),
            regexes: Mutex::new(HashMap::new()),
        };
        if !t.plain {
            let (source, trees) = parse_source(name, prefix, text, funcs)?;
            t.insert(name, source, trees);
        }
        Ok(t)
    }

    /// Parses `text`, the file `file`, into this set: its `{{define}}` blocks become
    /// templates of the set (a name defined again replaces the earlier definition unless the
    /// new body is empty, as in Go), and its top-level text, if not blank, the template
    /// named `file`.
    pub fn add(&mut self, file: &str, text: &str, funcs: &FuncMap) -> Result<(), Error> {
        if self.plain {
            // The top-level template was a copy of its text; it now joins a real set.
            let nodes = vec![parse::Node::Text(self.text.clone())];
            self.sources.push(Source {
                name: self.name.clone(),
                text: self.text.clone(),
            });
            let file_idx = self.sources.len() - 1;
            self.trees.insert(
                self.name.clone(),
                Tree {
                    file: file_idx,
                    nodes,
                },
            );
            self.plain = false;
        }
        let (source, trees) = parse_source(file, "", text, funcs)?;
        self.insert(file, source, trees);
        Ok(())
    }

    fn insert(&mut self, file: &str, source: String, trees: parse::Trees) {
        self.sources.push(Source {
            name: file.to_string(),
            text: source,
        });
        let file_idx = self.sources.len() - 1;
        for (name, nodes) in trees {
            let keep_old = parse::is_empty_tree(&nodes) && self.trees.contains_key(&name);
            if !keep_old {
                self.trees.insert(
                    name,
                    Tree {
                        file: file_idx,
                        nodes,
                    },
                );
            }
        }
    }

    /// The top-level template's text as written.
    pub fn source(&self) -> &str {
        &self.text
    }

    /// The name given to [`Template::parse`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the set defines a template called `name`.
    pub fn defines(&self, name: &str) -> bool {
        self.trees.contains_key(name) || (self.plain && name == self.name)
    }

    /// The names of the set's templates, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.trees.keys().map(String::as_str).collect();
        if self.plain {
            v.push(&self.name);
        }
        v.sort_unstable();
        v
    }

    /// Renders the top-level template with dot and `$` set to `data.root()`.
    pub fn render<'a>(&'a self, data: &(dyn Data<'a> + '_)) -> Result<String, Error> {
        if self.plain {
            return Ok(self.text.clone());
        }
        self.execute(&self.name, data, data.root())
    }

    /// Renders the template `name` of the set with dot and `$` set to `dot`.
    pub fn execute<'a>(
        &'a self,
        name: &str,
        data: &(dyn Data<'a> + '_),
        dot: Value<'a>,
    ) -> Result<String, Error> {
        if self.plain && name == self.name {
            return Ok(self.text.clone());
        }
        let Some((name, tree)) = self.trees.get_key_value(name) else {
            return Err(Error::NotDefined {
                name: name.to_string(),
                set: self.name.clone(),
            });
        };
        let capacity = self.sources.get(tree.file).map_or(0, |s| s.text.len());
        exec::execute(&self.trees, name, data, &self.regexes, dot, capacity).map_err(|e| {
            // The failing node is in the template that was executing, from its file.
            let file = self
                .trees
                .get(&e.template)
                .and_then(|t| self.sources.get(t.file));
            let (file, (line, column)) = match file {
                Some(s) => (s.name.clone(), line_col(&s.text, e.pos)),
                None => (self.name.clone(), (1, e.pos)),
            };
            Error::Exec {
                file,
                template: e.template,
                line,
                column,
                context: e.context,
                message: e.msg,
            }
        })
    }
}
