//! The evaluator: walks the syntax tree over an adapter's data, as Go's
//! `text/template/exec.go` does with `missingkey=zero`.
//!
//! It owns variable scoping, dot, pipelines (the previous stage is the last argument of the
//! next), field and key lookup, function-call argument checking, control flow, and Go's
//! execution-error texts with the position and node of the failure.

use std::borrow::Cow;
use std::collections::HashMap;

use std::sync::Arc;

use parking_lot::Mutex;
use regex::Regex;

use crate::store::Labels;

use super::funcs::{CallCtx, Func, Param, accepts};
use super::parse::{Arg, Branch, Cmd, Node, Num, Pipe};
use super::value::{Kind, Value};
use super::{Data, Tree};

/// Deepest nesting of `{{template}}` calls and control-structure bodies together (Go allows
/// 100000 template calls on its growable stacks; a render runs on a fixed thread stack).
const MAX_DEPTH: usize = 300;

pub(crate) struct ExecError {
    pub pos: usize,
    pub template: String,
    pub context: String,
    pub msg: String,
}

pub(crate) enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) struct State<'r, 'a> {
    pub trees: &'a HashMap<String, Tree>,
    pub data: &'r (dyn Data<'a> + 'r),
    pub regexes: &'a Mutex<HashMap<String, Arc<Regex>>>,
    pub vars: Vec<(&'a str, Value<'a>)>,
    pub out: String,
    pub depth: usize,
    pub tmpl: &'a str,
    /// The node most recently evaluated: Go reports some failures (a field on the result of
    /// a parenthesised pipeline) at this node rather than at the failing one.
    pub last: Option<&'a Arg>,
}

type EResult<T> = Result<T, ExecError>;

impl<'a> State<'_, 'a> {
    fn err(&self, pos: usize, context: String, msg: impl Into<String>) -> ExecError {
        ExecError {
            pos,
            template: self.tmpl.to_string(),
            context,
            msg: msg.into(),
        }
    }

    pub fn walk_list(&mut self, dot: &Value<'a>, list: &'a [Node]) -> EResult<Flow> {
        for n in list {
            match self.walk(dot, n)? {
                Flow::Normal => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value<'a>, node: &'a Node) -> EResult<Flow> {
        let (pos, ctx) = match node {
            Node::If(b) => (b.pipe.pos, "if"),
            Node::With(b) => (b.pipe.pos, "with"),
            Node::Range(b) => (b.pipe.pos, "range"),
            Node::Template { pos, .. } => (*pos, "template"),
            _ => return self.walk_node(dot, node),
        };
        if self.depth >= MAX_DEPTH {
            return Err(self.err(
                pos,
                format!("{{{{{ctx}}}}}"),
                format!("exceeded maximum template depth ({MAX_DEPTH})"),
            ));
        }
        self.depth += 1;
        let r = self.walk_node(dot, node);
        self.depth -= 1;
        r
    }

    fn walk_node(&mut self, dot: &Value<'a>, node: &'a Node) -> EResult<Flow> {
        match node {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(pipe) => {
                let v = self.eval_pipe(dot, pipe)?;
                if pipe.decl.is_empty() {
                    v.write_action(&mut self.out);
                }
            }
            Node::If(b) | Node::With(b) => {
                let mark = self.vars.len();
                let v = self.eval_pipe(dot, &b.pipe)?;
                let with = matches!(node, Node::With(_));
                let flow = if v.truth() {
                    if with {
                        self.walk_list(&v, &b.list)?
                    } else {
                        self.walk_list(dot, &b.list)?
                    }
                } else if let Some(e) = &b.else_list {
                    self.walk_list(dot, e)?
                } else {
                    Flow::Normal
                };
                self.vars.truncate(mark);
                return Ok(flow);
            }
            Node::Range(b) => {
                let mark = self.vars.len();
                let r = self.walk_range(dot, b);
                self.vars.truncate(mark);
                r?;
            }
            Node::Template { pos, name, pipe } => {
                let describe = || match pipe {
                    Some(p) => format!(
                        "{{{{template {} {}}}}}",
                        super::gofmt::quote(name),
                        p.describe()
                    ),
                    None => format!("{{{{template {}}}}}", super::gofmt::quote(name)),
                };
                let Some(tree) = self.trees.get(name.as_str()) else {
                    return Err(self.err(
                        *pos,
                        describe(),
                        format!("template {} not defined", super::gofmt::quote(name)),
                    ));
                };
                let new_dot = match pipe {
                    Some(p) => self.eval_pipe(dot, p)?,
                    None => Value::Nil,
                };
                let saved_vars = std::mem::replace(&mut self.vars, vec![("$", new_dot.clone())]);
                let saved_tmpl = std::mem::replace(&mut self.tmpl, name.as_str());
                let r = self.walk_list(&new_dot, &tree.nodes);
                self.tmpl = saved_tmpl;
                self.vars = saved_vars;
                r?;
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn walk_range(&mut self, dot: &Value<'a>, b: &'a Branch) -> EResult<()> {
        let val = self.eval_pipe(dot, &b.pipe)?;
        let mark = self.vars.len();
        let len: usize = match &val {
            Value::List(l) => l.len(),
            Value::Object(o) if matches!(o.kind(), Kind::List | Kind::Map) => o.len(),
            Value::Labels(l) => l.len(),
            Value::OwnedLabels(l) => l.len(),
            Value::Map(m) => m.len(),
            Value::Int(n) => {
                if b.pipe.decl.len() > 1 {
                    return Err(self.err(
                        b.pipe.pos,
                        b.pipe.describe(),
                        format!("can't use {n} to iterate over more than one variable"),
                    ));
                }
                usize::try_from(*n).unwrap_or(0)
            }
            Value::Nil => 0,
            other => {
                return Err(self.err(
                    b.pipe.pos,
                    b.pipe.describe(),
                    format!("range can't iterate over {}", other.to_v_string()),
                ));
            }
        };
        if len == 0 {
            if let Some(e) = &b.else_list {
                self.walk_list(dot, e)?;
            }
            return Ok(());
        }
        for i in 0..len {
            let (index, elem) = range_item(&val, i);
            let decl = &b.pipe.decl;
            if !decl.is_empty() {
                if b.pipe.is_assign {
                    if decl.len() > 1 {
                        self.set_var(&decl[0], index.clone());
                        self.set_var(&decl[1], elem.clone());
                    } else {
                        self.set_var(&decl[0], elem.clone());
                    }
                } else {
                    // The pipeline pushed its variables; the top is the element, the one
                    // below it the index.
                    let n = self.vars.len();
                    if decl.len() > 1 && n >= 2 {
                        self.vars[n - 2].1 = index.clone();
                    }
                    if n >= 1 {
                        self.vars[n - 1].1 = elem.clone();
                    }
                }
            }
            let inner = self.vars.len();
            let flow = self.walk_list(&elem, &b.list);
            self.vars.truncate(inner.max(mark));
            match flow? {
                Flow::Break => break,
                Flow::Continue | Flow::Normal => {}
            }
        }
        Ok(())
    }

    fn set_var(&mut self, name: &str, v: Value<'a>) {
        if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            slot.1 = v;
        }
    }

    fn var(&self, name: &str, pos: usize) -> EResult<Value<'a>> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| self.err(pos, name.to_string(), format!("undefined variable: {name}")))
    }

    fn eval_pipe(&mut self, dot: &Value<'a>, pipe: &'a Pipe) -> EResult<Value<'a>> {
        let mut val: Option<Value<'a>> = None;
        for cmd in &pipe.cmds {
            val = Some(self.eval_cmd(dot, cmd, val)?);
        }
        let val = val.unwrap_or(Value::Nil);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, val.clone());
            } else {
                self.vars.push((name.as_str(), val.clone()));
            }
        }
        Ok(val)
    }

    fn not_a_function(&self, cmd: &Cmd, fin: &Option<Value<'a>>) -> EResult<()> {
        if cmd.args.len() > 1 || fin.is_some() {
            let first = &cmd.args[0];
            return Err(self.err(
                first.pos(),
                first.describe(),
                format!("can't give argument to non-function {}", first.describe()),
            ));
        }
        Ok(())
    }

    fn eval_cmd(
        &mut self,
        dot: &Value<'a>,
        cmd: &'a Cmd,
        fin: Option<Value<'a>>,
    ) -> EResult<Value<'a>> {
        let first = &cmd.args[0];
        self.last = Some(first);
        match first {
            Arg::Field { idents, pos } => {
                self.eval_chain(dot, dot.clone(), idents, first, *pos, cmd, fin)
            }
            Arg::Chain { node, fields, .. } => {
                let recv = self.eval_arg(dot, node)?;
                let at = self.last.unwrap_or(first);
                self.eval_chain(dot, recv, fields, at, at.pos(), cmd, fin)
            }
            Arg::Variable { name, fields, pos } => {
                let v = self.var(name, *pos)?;
                if fields.is_empty() {
                    self.not_a_function(cmd, &fin)?;
                    return Ok(v);
                }
                self.eval_chain(dot, v, fields, first, *pos, cmd, fin)
            }
            Arg::Ident { func, name, pos } => self.call(dot, *func, name, *pos, cmd, fin),
            Arg::Pipe(p) => {
                self.not_a_function(cmd, &fin)?;
                self.eval_pipe(dot, p)
            }
            Arg::Nil { pos } => Err(self.err(*pos, "nil".into(), "nil is not a command")),
            _ => {
                self.not_a_function(cmd, &fin)?;
                self.eval_arg(dot, first)
            }
        }
    }

    /// Evaluates one argument node to a value (an untyped constant becomes `int`/`float64`).
    fn eval_arg(&mut self, dot: &Value<'a>, arg: &'a Arg) -> EResult<Value<'a>> {
        self.last = Some(arg);
        match arg {
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => Ok(Value::Nil),
            Arg::Bool { val, .. } => Ok(Value::Bool(*val)),
            Arg::Str { val, .. } => Ok(Value::Str(Cow::Borrowed(val.as_str()))),
            Arg::Number { val, text, pos } => match val {
                Num::Int(i) => Ok(Value::Int(*i)),
                Num::Float(f) => Ok(Value::Float(*f)),
                Num::Overflow => Err(self.err(*pos, text.clone(), format!("{text} overflows int"))),
            },
            Arg::Pipe(p) => self.eval_pipe(dot, p),
            Arg::Variable { name, fields, pos } => {
                let mut v = self.var(name, *pos)?;
                for f in fields {
                    v = self.field(v, f, arg, *pos, &[])?;
                }
                Ok(v)
            }
            Arg::Field { idents, pos } => {
                let mut v = dot.clone();
                for f in idents {
                    v = self.field(v, f, arg, *pos, &[])?;
                }
                Ok(v)
            }
            Arg::Chain { node, fields, .. } => {
                let mut v = self.eval_arg(dot, node)?;
                let at = self.last.unwrap_or(arg);
                for f in fields {
                    v = self.field(v, f, at, at.pos(), &[])?;
                }
                Ok(v)
            }
            Arg::Ident { func, name, pos } => {
                // A function as an argument is called with no arguments.
                let cmd_args: &[Arg] = std::slice::from_ref(arg);
                self.call_with(dot, *func, name, *pos, cmd_args, arg.describe(), None)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_chain(
        &mut self,
        dot: &Value<'a>,
        mut recv: Value<'a>,
        idents: &'a [String],
        node: &'a Arg,
        pos: usize,
        cmd: &'a Cmd,
        fin: Option<Value<'a>>,
    ) -> EResult<Value<'a>> {
        let n = idents.len();
        for f in &idents[..n - 1] {
            recv = self.field(recv, f, node, pos, &[])?;
        }
        // The last field receives the command's arguments (a method call).
        let mut args = Vec::new();
        for a in &cmd.args[1..] {
            args.push(self.eval_arg(dot, a)?);
        }
        if let Some(f) = fin {
            args.push(f);
        }
        let has_args = !args.is_empty();
        let last = &idents[n - 1];
        let method = match &recv {
            Value::Time(_) | Value::Duration(_) => true,
            Value::Object(o) => o.has_method(last),
            _ => false,
        };
        if has_args && !method {
            let map = match &recv {
                Value::Labels(_) | Value::OwnedLabels(_) | Value::Map(_) => true,
                Value::Object(o) => o.kind() == Kind::Map,
                _ => false,
            };
            let msg = if map {
                format!("{last} is not a method but has arguments")
            } else {
                format!("{last} has arguments but cannot be invoked as function")
            };
            return Err(self.err(pos, node.describe(), msg));
        }
        self.field(recv, last, node, pos, &args)
    }

    /// Go's `evalField`: a struct field, a map key (missing → the zero value), or a method.
    fn field(
        &self,
        recv: Value<'a>,
        name: &str,
        node: &Arg,
        pos: usize,
        args: &[Value<'a>],
    ) -> EResult<Value<'a>> {
        let cant = |t: &str| {
            self.err(
                pos,
                node.describe(),
                format!("can't evaluate field {name} in type {t}"),
            )
        };
        Ok(match &recv {
            Value::Nil => Value::Nil,
            Value::Object(o) => match o.field(name, args) {
                Ok(Some(v)) => v,
                Ok(None) => return Err(cant(o.type_name())),
                Err(m) => return Err(self.err(pos, node.describe(), m)),
            },
            // A missing key is the zero value of `string` (missingkey=zero).
            Value::Labels(l) => Value::Str(Cow::Borrowed(l.get(name).unwrap_or(""))),
            Value::OwnedLabels(l) => Value::Str(Cow::Owned(l.get(name).unwrap_or("").to_string())),
            Value::Map(m) => m
                .iter()
                .find(|(k, _)| k == name)
                .map_or(Value::Nil, |(_, v)| v.clone()),
            Value::Time(t) => {
                let want = |n: usize| -> EResult<()> {
                    if args.len() != n {
                        return Err(self.err(
                            pos,
                            node.describe(),
                            format!(
                                "wrong number of args for {name}: want {n} got {}",
                                args.len()
                            ),
                        ));
                    }
                    Ok(())
                };
                match name {
                    "Format" => {
                        want(1)?;
                        let Value::Str(layout) = &args[0] else {
                            return Err(self.err(
                                pos,
                                node.describe(),
                                format!(
                                    "wrong type for value; expected string; got {}",
                                    args[0].type_name()
                                ),
                            ));
                        };
                        Value::Str(t.format(layout).into())
                    }
                    "String" => {
                        want(0)?;
                        Value::Str(t.go_string().into())
                    }
                    "Unix" => {
                        want(0)?;
                        Value::Int(t.unix_seconds())
                    }
                    "UnixMilli" => {
                        want(0)?;
                        Value::Int(t.nanos.div_euclid(1_000_000) as i64)
                    }
                    "UTC" => {
                        want(0)?;
                        recv.clone()
                    }
                    "Year" => {
                        want(0)?;
                        Value::Int(t.civil().year)
                    }
                    _ => return Err(cant("*time.Time")),
                }
            }
            Value::Duration(d) => {
                if !args.is_empty() {
                    return Err(self.err(
                        pos,
                        node.describe(),
                        format!("wrong number of args for {name}: want 0 got {}", args.len()),
                    ));
                }
                let d = *d;
                match name {
                    "String" => Value::Str(super::gofmt::duration_string(d).into()),
                    "Hours" => Value::Float(d as f64 / 3.6e12),
                    "Minutes" => Value::Float(d as f64 / 6e10),
                    "Seconds" => Value::Float(d as f64 / 1e9),
                    "Milliseconds" => Value::Int(d / 1_000_000),
                    "Microseconds" => Value::Int(d / 1_000),
                    "Nanoseconds" => Value::Int(d),
                    _ => return Err(cant("*time.Duration")),
                }
            }
            other => return Err(cant(other.type_name())),
        })
    }

    fn call(
        &mut self,
        dot: &Value<'a>,
        func: Func,
        name: &str,
        pos: usize,
        cmd: &'a Cmd,
        fin: Option<Value<'a>>,
    ) -> EResult<Value<'a>> {
        // A command's position is its first word's, here the function name's.
        self.call_with(dot, func, name, pos, &cmd.args, cmd.describe(), fin)
    }

    #[allow(clippy::too_many_arguments)]
    fn call_with(
        &mut self,
        dot: &Value<'a>,
        func: Func,
        name: &str,
        pos: usize,
        cmd_args: &'a [Arg],
        cmd_ctx: String,
        fin: Option<Value<'a>>,
    ) -> EResult<Value<'a>> {
        let args = &cmd_args[1..];
        let (fixed, variadic) = func.signature();
        let n_in = args.len() + usize::from(fin.is_some());
        match variadic {
            Some(_) if n_in < fixed.len() => {
                return Err(self.err(
                    pos,
                    name.to_string(),
                    format!(
                        "wrong number of args for {name}: want at least {} got {}",
                        fixed.len(),
                        args.len()
                    ),
                ));
            }
            None if n_in != fixed.len() => {
                return Err(self.err(
                    pos,
                    name.to_string(),
                    format!(
                        "wrong number of args for {name}: want {} got {n_in}",
                        fixed.len()
                    ),
                ));
            }
            _ => {}
        }
        let param =
            |i: usize| -> Param { fixed.get(i).copied().or(variadic).unwrap_or(Param::Any) };
        // `and` / `or` short-circuit: arguments are evaluated only until the result is known.
        if let Some(want) = func.short_circuit() {
            let mut v = Value::Nil;
            for a in args {
                v = self.eval_arg(dot, a)?;
                if v.truth() == want {
                    return Ok(v);
                }
            }
            if let Some(f) = fin {
                v = f;
            }
            return Ok(v);
        }
        let mut vals = Vec::with_capacity(n_in);
        for (i, a) in args.iter().enumerate() {
            let p = param(i);
            let v = self.eval_typed_arg(dot, a, p)?;
            vals.push(v);
        }
        if let Some(f) = fin {
            let p = param(vals.len());
            if !accepts(p, &f) {
                return Err(self.err(pos, cmd_ctx, type_msg(p, &f)));
            }
            vals.push(f);
        }
        let ctx = CallCtx {
            data: self.data,
            regexes: self.regexes,
        };
        ctx.call(func, name, vals)
            .map_err(|m| self.err(pos, cmd_ctx, format!("error calling {name}: {m}")))
    }

    fn eval_typed_arg(&mut self, dot: &Value<'a>, a: &'a Arg, p: Param) -> EResult<Value<'a>> {
        // Literals against a typed parameter fail the way Go's evalArg does.
        if p == Param::Str {
            match a {
                Arg::Number { .. } | Arg::Bool { .. } => {
                    return Err(self.err(
                        a.pos(),
                        a.describe(),
                        format!("expected string; found {}", a.describe()),
                    ));
                }
                Arg::Nil { .. } => {
                    return Err(self.err(a.pos(), a.describe(), "cannot assign nil to string"));
                }
                _ => {}
            }
        }
        let v = self.eval_arg(dot, a)?;
        if !accepts(p, &v) {
            return Err(self.err(a.pos(), a.describe(), type_msg(p, &v)));
        }
        Ok(v)
    }
}

/// The `i`th (index, element) pair of a range over `val` (maps in key order).
fn range_item<'a>(val: &Value<'a>, i: usize) -> (Value<'a>, Value<'a>) {
    let idx = Value::Int(i as i64);
    let pair = |l: &Labels| match l.as_slice().get(i) {
        Some(x) => (
            Value::str(x.name.to_string()),
            Value::str(x.value.to_string()),
        ),
        None => (Value::Nil, Value::Nil),
    };
    match val {
        Value::List(l) => (idx, l.get(i).cloned().unwrap_or(Value::Nil)),
        Value::Object(o) => o.item(i),
        Value::Labels(l) => match l.as_slice().get(i) {
            Some(x) => (
                Value::Str(Cow::Borrowed(&*x.name)),
                Value::Str(Cow::Borrowed(&*x.value)),
            ),
            None => (Value::Nil, Value::Nil),
        },
        Value::OwnedLabels(l) => pair(l),
        Value::Map(m) => match m.get(i) {
            Some((k, v)) => (Value::str(k.clone()), v.clone()),
            None => (Value::Nil, Value::Nil),
        },
        _ => (idx.clone(), idx),
    }
}

fn type_msg(p: Param, v: &Value<'_>) -> String {
    if matches!(v, Value::Nil) {
        return format!("invalid value; expected {}", p.go_type());
    }
    format!(
        "wrong type for value; expected {}; got {}",
        p.go_type(),
        v.type_name()
    )
}

/// Runs the template named `name` with `$` and dot set to `dot`.
pub(crate) fn execute<'a>(
    trees: &'a HashMap<String, Tree>,
    name: &'a str,
    data: &(dyn Data<'a> + '_),
    regexes: &'a Mutex<HashMap<String, Arc<Regex>>>,
    dot: Value<'a>,
    capacity: usize,
) -> Result<String, ExecError> {
    let mut st = State {
        trees,
        data,
        regexes,
        vars: vec![("$", dot.clone())],
        out: String::with_capacity(capacity),
        depth: 0,
        tmpl: name,
        last: None,
    };
    if let Some(tree) = trees.get(name) {
        st.walk_list(&dot, &tree.nodes)?;
    }
    Ok(st.out)
}
