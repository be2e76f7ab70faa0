//! The function table: Go's builtins (`and`, `or`, `not`, `len`, `index`, `slice`, `print`,
//! `printf`, `println`, `eq`..`ge`, `html`, `js`, `urlquery`), which every template has, and
//! the shared library ([`Shared`]: string, regexp, humanizing and time functions) that an
//! adapter picks from for its [`FuncMap`], with their Go signatures (arity and parameter
//! types) and their exact outputs and error texts. An adapter's own functions
//! ([`FuncMap::with_custom`]) are called through [`Data::call`].

use std::collections::HashMap;
use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::Arc;

use parking_lot::Mutex;
use regex::Regex;

use super::Data;
use super::gofmt::{self, GoTime};
use super::printf::sprintf;
use super::value::{Kind, Value};

macro_rules! funcs {
    ($(#[$meta:meta])* $vis:vis enum $enum:ident { $($(#[$vmeta:meta])* $variant:ident => $name:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis enum $enum { $($(#[$vmeta])* $variant),* }
        impl $enum {
            /// The function's name in templates.
            pub fn name(self) -> &'static str {
                match self { $($enum::$variant => $name,)* }
            }
            /// Every function of this table.
            pub const ALL: &[$enum] = &[$($enum::$variant),*];
        }
    };
}

funcs! {
    /// Go's `text/template` builtins.
    pub(crate) enum GoBuiltin {
        And => "and", Or => "or", Not => "not", Len => "len", Index => "index", Slice => "slice",
        Print => "print", Printf => "printf", Println => "println",
        Eq => "eq", Ne => "ne", Lt => "lt", Le => "le", Gt => "gt", Ge => "ge",
        Html => "html", Js => "js", Urlquery => "urlquery",
    }
}

funcs! {
    /// The engine's shared function library. Prometheus's and Alertmanager's function maps
    /// both draw on it; each adapter registers the ones its Go original has.
    pub enum Shared {
        /// `args`: `map[string]interface{}` of `arg0`, `arg1`, ... (Prometheus).
        Args => "args",
        /// `reReplaceAll pattern replacement text`.
        ReReplaceAll => "reReplaceAll",
        /// `safeHtml`: the string as is (text/template has no HTML escaping to bypass).
        SafeHtml => "safeHtml",
        /// `match pattern text`.
        Match => "match",
        /// `strings.Title`.
        Title => "title",
        /// `strings.ToUpper`.
        ToUpper => "toUpper",
        /// `strings.ToLower`.
        ToLower => "toLower",
        /// `strings.TrimSpace`.
        TrimSpace => "trimSpace",
        /// `join sep list`: `strings.Join` over a list of strings.
        Join => "join",
        /// `stringSlice a b ...`: a `[]string`.
        StringSlice => "stringSlice",
        /// `graphLink expr`: `/graph?g0.expr=...&g0.tab=0`.
        GraphLink => "graphLink",
        /// `tableLink expr`: `/graph?g0.expr=...&g0.tab=1`.
        TableLink => "tableLink",
        /// `stripPort host:port`.
        StripPort => "stripPort",
        /// `stripDomain host.domain:port`.
        StripDomain => "stripDomain",
        /// `humanize`: SI prefixes, 4 significant digits.
        Humanize => "humanize",
        /// `humanize1024`: binary prefixes.
        Humanize1024 => "humanize1024",
        /// `humanizeDuration`: seconds as `1d 2h 3m 4s`.
        HumanizeDuration => "humanizeDuration",
        /// `humanizePercentage`: a ratio as `12.5%`.
        HumanizePercentage => "humanizePercentage",
        /// `humanizeTimestamp`: Unix seconds as Go's `time.Time.String()`.
        HumanizeTimestamp => "humanizeTimestamp",
        /// `toTime`: Unix seconds to `*time.Time`.
        ToTime => "toTime",
        /// `toDuration`: seconds to `*time.Duration`.
        ToDuration => "toDuration",
        /// `parseDuration`: a Prometheus duration (`1h30m`) in seconds.
        ParseDuration => "parseDuration",
        /// `date layout time`: `time.Time.Format` (Alertmanager's argument order).
        Date => "date",
    }
}

/// A parameter's Go type, for argument checking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// `interface {}`: any value.
    Any,
    /// `string`.
    Str,
    /// An adapter's [`Object`](super::Object) whose `type_name` is this.
    Object(&'static str),
}

impl Param {
    /// Go's spelling of the type, for error messages.
    pub fn go_type(self) -> &'static str {
        match self {
            Param::Any => "interface {}",
            Param::Str => "string",
            Param::Object(t) => t,
        }
    }
}

/// A function's Go signature: fixed parameters and the variadic one, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature {
    pub params: &'static [Param],
    pub variadic: Option<Param>,
}

use Param::{Any, Str};

/// A function as the parser resolved it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Func {
    Go(GoBuiltin),
    Shared(Shared),
    /// An adapter's function: `id` is passed to [`Data::call`].
    Custom {
        id: u16,
        sig: Signature,
    },
}

/// The functions a template may call, fixed when it is parsed (Go checks names at parse
/// time): Go's builtins, the [`Shared`] functions the adapter picked and the adapter's own.
/// A later registration of a name replaces an earlier one, as Go's `Funcs` does.
#[derive(Clone, Debug)]
pub struct FuncMap {
    map: HashMap<&'static str, Func>,
}

impl Default for FuncMap {
    fn default() -> Self {
        Self::new()
    }
}

impl FuncMap {
    /// Go's builtins only.
    pub fn new() -> FuncMap {
        FuncMap {
            map: GoBuiltin::ALL
                .iter()
                .map(|&f| (f.name(), Func::Go(f)))
                .collect(),
        }
    }

    /// Adds shared functions under their names.
    pub fn with_shared(mut self, funcs: &[Shared]) -> FuncMap {
        for &f in funcs {
            self.map.insert(f.name(), Func::Shared(f));
        }
        self
    }

    /// Adds an adapter's function: a call reaches [`Data::call`] with `id` after its
    /// arguments were checked against `params` (and `variadic`, for the rest).
    pub fn with_custom(
        mut self,
        name: &'static str,
        id: u16,
        params: &'static [Param],
        variadic: Option<Param>,
    ) -> FuncMap {
        let sig = Signature { params, variadic };
        self.map.insert(name, Func::Custom { id, sig });
        self
    }

    pub(crate) fn lookup(&self, name: &str) -> Option<Func> {
        self.map.get(name).copied()
    }
}

impl Func {
    /// Fixed parameters and the variadic one, if any.
    pub fn signature(self) -> (&'static [Param], Option<Param>) {
        match self {
            Func::Go(g) => match g {
                GoBuiltin::And
                | GoBuiltin::Or
                | GoBuiltin::Index
                | GoBuiltin::Slice
                | GoBuiltin::Eq => (&[Any], Some(Any)),
                GoBuiltin::Not | GoBuiltin::Len => (&[Any], None),
                GoBuiltin::Print
                | GoBuiltin::Println
                | GoBuiltin::Html
                | GoBuiltin::Js
                | GoBuiltin::Urlquery => (&[], Some(Any)),
                GoBuiltin::Printf => (&[Str], Some(Any)),
                GoBuiltin::Ne | GoBuiltin::Lt | GoBuiltin::Le | GoBuiltin::Gt | GoBuiltin::Ge => {
                    (&[Any, Any], None)
                }
            },
            Func::Shared(f) => match f {
                Shared::Args => (&[], Some(Any)),
                Shared::StringSlice => (&[], Some(Str)),
                Shared::SafeHtml
                | Shared::Title
                | Shared::ToUpper
                | Shared::ToLower
                | Shared::TrimSpace
                | Shared::GraphLink
                | Shared::TableLink
                | Shared::StripPort
                | Shared::StripDomain
                | Shared::ParseDuration => (&[Str], None),
                Shared::ReReplaceAll => (&[Str, Str, Str], None),
                Shared::Match => (&[Str, Str], None),
                Shared::Join => (&[Str, Any], None),
                Shared::Date => (&[Str, Any], None),
                Shared::Humanize
                | Shared::Humanize1024
                | Shared::HumanizeDuration
                | Shared::HumanizePercentage
                | Shared::HumanizeTimestamp
                | Shared::ToTime
                | Shared::ToDuration => (&[Any], None),
            },
            Func::Custom { sig, .. } => (sig.params, sig.variadic),
        }
    }

    /// Whether this is Go's `and` or `or` (short-circuit evaluation).
    pub fn short_circuit(self) -> Option<bool> {
        match self {
            Func::Go(GoBuiltin::And) => Some(false),
            Func::Go(GoBuiltin::Or) => Some(true),
            _ => None,
        }
    }
}

/// Whether `v` can be passed as a parameter of type `p` (Go's assignability).
pub(crate) fn accepts(p: Param, v: &Value<'_>) -> bool {
    match p {
        Param::Any => true,
        Param::Str => matches!(v, Value::Str(_)),
        Param::Object(t) => matches!(v, Value::Object(o) if o.type_name() == t),
    }
}

/// What a function call can reach besides its arguments.
pub(crate) struct CallCtx<'r, 'a> {
    pub data: &'r (dyn Data<'a> + 'r),
    pub regexes: &'r Mutex<HashMap<String, Arc<Regex>>>,
}

fn s<'v>(v: &'v Value<'_>) -> &'v str {
    match v {
        Value::Str(s) => s,
        _ => "",
    }
}

/// Compiles `pattern` through the template's cache, with Go's error text.
pub(crate) fn cached_regex(
    regexes: &Mutex<HashMap<String, Arc<Regex>>>,
    pattern: &str,
) -> Result<Arc<Regex>, String> {
    let mut cache = regexes.lock();
    if let Some(re) = cache.get(pattern) {
        return Ok(re.clone());
    }
    let re = Arc::new(Regex::new(pattern).map_err(|e| {
        let detail = e.to_string();
        let reason = detail.lines().last().unwrap_or("invalid pattern").trim();
        let reason = reason.strip_prefix("error: ").unwrap_or(reason);
        format!(
            "error parsing regexp: {reason}: {}",
            go_regexp_quote(pattern)
        )
    })?);
    if cache.len() >= 256 {
        cache.clear();
    }
    cache.insert(pattern.to_string(), re.clone());
    Ok(re)
}

impl<'a> CallCtx<'_, 'a> {
    fn regex(&self, pattern: &str) -> Result<Arc<Regex>, String> {
        cached_regex(self.regexes, pattern)
    }

    /// Calls every function except `and` and `or` (which the evaluator short-circuits).
    /// Arity and parameter types are already checked.
    pub fn call(&self, f: Func, name: &str, args: Vec<Value<'a>>) -> Result<Value<'a>, String> {
        match f {
            Func::Go(g) => go_builtin(g, args),
            Func::Shared(f) => self.shared(f, args),
            Func::Custom { id, .. } => self.data.call(id, name, args),
        }
    }

    fn shared(&self, f: Shared, args: Vec<Value<'a>>) -> Result<Value<'a>, String> {
        let a = &args;
        Ok(match f {
            Shared::Args => {
                let mut m: Vec<(String, Value<'a>)> = args
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (format!("arg{i}"), v))
                    .collect();
                m.sort_by(|x, y| x.0.cmp(&y.0));
                Value::Map(Rc::new(m))
            }
            Shared::ReReplaceAll => {
                let re = self
                    .regex(s(&a[0]))
                    .map_err(|e| format!("regexp: Compile({}): {e}", go_regexp_quote(s(&a[0]))))?;
                Value::Str(re.replace_all(s(&a[2]), s(&a[1])).into_owned().into())
            }
            Shared::SafeHtml => a[0].clone(),
            Shared::Match => Value::Bool(self.regex(s(&a[0]))?.is_match(s(&a[1]))),
            Shared::Title => Value::Str(title(s(&a[0])).into()),
            Shared::ToUpper => Value::Str(to_upper(s(&a[0])).into()),
            Shared::ToLower => Value::Str(to_lower(s(&a[0])).into()),
            Shared::TrimSpace => Value::Str(s(&a[0]).trim().to_string().into()),
            Shared::Join => {
                let items = a[1].as_strings().ok_or_else(|| {
                    format!(
                        "wrong type for value; expected []string; got {}",
                        a[1].type_name()
                    )
                })?;
                Value::Str(items.join(s(&a[0])).into())
            }
            Shared::StringSlice => Value::List(Rc::new(args)),
            Shared::GraphLink => {
                Value::Str(format!("/graph?g0.expr={}&g0.tab=0", query_escape(s(&a[0]))).into())
            }
            Shared::TableLink => {
                Value::Str(format!("/graph?g0.expr={}&g0.tab=1", query_escape(s(&a[0]))).into())
            }
            Shared::StripPort => {
                let hp = s(&a[0]);
                match split_host_port(hp) {
                    Ok((host, _)) => Value::Str(host.to_string().into()),
                    Err(()) => Value::Str(hp.to_string().into()),
                }
            }
            Shared::StripDomain => Value::Str(strip_domain(s(&a[0])).into()),
            Shared::Humanize => Value::Str(humanize(to_float(&a[0])?).into()),
            Shared::Humanize1024 => Value::Str(humanize1024(to_float(&a[0])?).into()),
            Shared::HumanizeDuration => Value::Str(humanize_duration(to_float(&a[0])?).into()),
            Shared::HumanizePercentage => {
                Value::Str(format!("{}%", g4(to_float(&a[0])? * 100.0)).into())
            }
            Shared::HumanizeTimestamp => {
                let v = to_float(&a[0])?;
                if v.is_nan() || v.is_infinite() {
                    Value::Str(g4(v).into())
                } else {
                    Value::Str(float_to_time(v)?.go_string().into())
                }
            }
            Shared::ToTime => {
                let v = to_float(&a[0])?;
                if v.is_nan() || v.is_infinite() {
                    return Err(format!(
                        "{} cannot be represented as a time",
                        gofmt::format_g(v, None, false)
                    ));
                }
                Value::Time(float_to_time(v)?)
            }
            Shared::ToDuration => {
                let secs = to_float(&a[0])?;
                let ns = secs * 1e9;
                if !ns.is_finite() || ns > i64::MAX as f64 || ns < i64::MIN as f64 {
                    return Err(format!(
                        "{} seconds cannot be represented as a duration",
                        gofmt::format_g(secs, None, false)
                    ));
                }
                Value::Duration(ns as i64)
            }
            Shared::ParseDuration => Value::Float(parse_duration(s(&a[0]))?),
            Shared::Date => match &a[1] {
                Value::Time(t) => Value::Str(t.format(s(&a[0])).into()),
                other => {
                    return Err(format!(
                        "wrong type for value; expected time.Time; got {}",
                        other.type_name()
                    ));
                }
            },
        })
    }
}

/// Go's builtins other than the short-circuiting `and` / `or`.
fn go_builtin(g: GoBuiltin, args: Vec<Value<'_>>) -> Result<Value<'_>, String> {
    let a = &args;
    Ok(match g {
        GoBuiltin::And | GoBuiltin::Or => a.last().cloned().unwrap_or(Value::Nil),
        GoBuiltin::Not => Value::Bool(!a[0].truth()),
        GoBuiltin::Len => Value::Int(length(&a[0])?),
        GoBuiltin::Index => index(&a[0], &a[1..])?,
        GoBuiltin::Slice => slice(&a[0], &a[1..])?,
        GoBuiltin::Print => Value::Str(sprint(a).into()),
        GoBuiltin::Println => {
            let mut out = String::new();
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                v.write_v(&mut out);
            }
            out.push('\n');
            Value::Str(out.into())
        }
        GoBuiltin::Printf => Value::Str(sprintf(s(&a[0]), &a[1..]).into()),
        GoBuiltin::Eq => Value::Bool(eq(&a[0], &a[1..])?),
        GoBuiltin::Ne => Value::Bool(!eq(&a[0], &a[1..])?),
        GoBuiltin::Lt => Value::Bool(lt(&a[0], &a[1])?),
        GoBuiltin::Le => Value::Bool(lt(&a[0], &a[1])? || eq(&a[0], &a[1..])?),
        GoBuiltin::Gt => Value::Bool(!(lt(&a[0], &a[1])? || eq(&a[0], &a[1..])?)),
        GoBuiltin::Ge => Value::Bool(!lt(&a[0], &a[1])?),
        GoBuiltin::Html => Value::Str(html_escape(&eval_args(a)).into()),
        GoBuiltin::Js => Value::Str(js_escape(&eval_args(a)).into()),
        GoBuiltin::Urlquery => Value::Str(query_escape(&eval_args(a)).into()),
    })
}

/// The `regexp` package's quoting of a pattern in messages: backquoted when possible.
fn go_regexp_quote(p: &str) -> String {
    let backquotable = !p.contains('`') && p.chars().all(|c| c == '\t' || !c.is_control());
    if backquotable {
        format!("`{p}`")
    } else {
        gofmt::quote(p)
    }
}

// --- builtins ---------------------------------------------------------------------------------

fn length(v: &Value<'_>) -> Result<i64, String> {
    Ok(match v {
        Value::Str(s) => s.len() as i64,
        Value::Labels(l) => l.len() as i64,
        Value::OwnedLabels(l) => l.len() as i64,
        Value::Map(m) => m.len() as i64,
        Value::Object(o) if matches!(o.kind(), Kind::List | Kind::Map) => o.len() as i64,
        Value::List(l) => l.len() as i64,
        Value::Nil => return Err("len of nil pointer".into()),
        other => return Err(format!("len of type {}", other.type_name())),
    })
}

fn index_arg(i: &Value<'_>, cap: usize) -> Result<usize, String> {
    let x = match i {
        Value::Int(x) => *x,
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ));
        }
    };
    if x < 0 || x as u64 > cap as u64 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn index<'a>(item: &Value<'a>, idx: &[Value<'a>]) -> Result<Value<'a>, String> {
    let mut item = item.clone();
    if matches!(item, Value::Nil) {
        return Err("index of untyped nil".into());
    }
    for i in idx {
        item = match &item {
            Value::Str(s) => {
                let x = index_arg(i, s.len())?;
                match s.as_bytes().get(x) {
                    Some(&b) => Value::Int(b as i64),
                    None => return Err(format!("index out of range: {x}")),
                }
            }
            Value::List(l) => {
                let x = index_arg(i, l.len())?;
                l.get(x)
                    .cloned()
                    .ok_or_else(|| format!("index out of range: {x}"))?
            }
            Value::Object(o) if o.kind() == Kind::List => {
                let x = index_arg(i, o.len())?;
                if x >= o.len() {
                    return Err(format!("index out of range: {x}"));
                }
                o.item(x).1
            }
            Value::Object(o) if o.kind() == Kind::Map => {
                let Value::Str(k) = i else {
                    return Err(format!(
                        "value has type {}; should be string",
                        i.type_name()
                    ));
                };
                o.get(k)
            }
            Value::Labels(_) | Value::OwnedLabels(_) => {
                let Value::Str(k) = i else {
                    return Err(format!(
                        "value has type {}; should be string",
                        i.type_name()
                    ));
                };
                let l = item.label_map().map(|l| l.get(k).unwrap_or("").to_string());
                Value::Str(l.unwrap_or_default().into())
            }
            Value::Map(m) => {
                let Value::Str(k) = i else {
                    return Err(format!(
                        "value has type {}; should be string",
                        i.type_name()
                    ));
                };
                m.iter()
                    .find(|(key, _)| key == k)
                    .map_or(Value::Nil, |(_, v)| v.clone())
            }
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn slice<'a>(item: &Value<'a>, idx: &[Value<'a>]) -> Result<Value<'a>, String> {
    let len = match item {
        Value::Nil => return Err("slice of untyped nil".into()),
        Value::Str(s) => {
            if idx.len() > 2 {
                return Err("invalid slice index: cannot 3-index slice a string".to_string());
            }
            s.len()
        }
        Value::List(l) => l.len(),
        Value::Object(o) if o.kind() == Kind::List => o.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    if idx.len() > 3 {
        return Err(format!("too many slice indexes: {}", idx.len()));
    }
    let mut ix = [0usize, len, len];
    for (k, i) in idx.iter().enumerate() {
        ix[k] = index_arg(i, len)?;
    }
    if idx.len() < 2 {
        ix[1] = len;
    }
    if ix[0] > ix[1] {
        return Err(format!("invalid slice index: {} > {}", ix[0], ix[1]));
    }
    if idx.len() == 3 && ix[1] > ix[2] {
        return Err(format!("invalid slice index: {} > {}", ix[1], ix[2]));
    }
    Ok(match item {
        Value::Str(s) => {
            let sub = s.get(ix[0]..ix[1]).ok_or_else(|| {
                "slicing a string inside a multi-byte character is not supported".to_string()
            })?;
            Value::Str(sub.to_string().into())
        }
        Value::List(l) => Value::List(Rc::new(l[ix[0]..ix[1]].to_vec())),
        Value::Object(o) => o.slice(ix[0], ix[1]),
        _ => Value::Nil,
    })
}

/// `fmt.Sprint`: spaces between operands when neither is a string.
fn sprint(a: &[Value<'_>]) -> String {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        if i > 0 && !matches!(v, Value::Str(_)) && !matches!(a[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        v.write_v(&mut out);
    }
    out
}

/// text/template's `evalArgs`: a single string argument as is, else `fmt.Sprint`.
fn eval_args(a: &[Value<'_>]) -> String {
    if let [Value::Str(s)] = a {
        return s.to_string();
    }
    sprint(a)
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum BasicKind {
    Bool,
    Int,
    Float,
    Str,
}

fn basic_kind(v: &Value<'_>) -> Option<BasicKind> {
    match v {
        Value::Bool(_) => Some(BasicKind::Bool),
        Value::Int(_) => Some(BasicKind::Int),
        Value::Float(_) => Some(BasicKind::Float),
        Value::Str(_) => Some(BasicKind::Str),
        _ => None,
    }
}

const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";
const BAD_COMPARISON: &str = "incompatible types for comparison";

fn eq(a: &Value<'_>, others: &[Value<'_>]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(a);
    for b in others {
        let k2 = basic_kind(b);
        let truth = match (a, b) {
            (Value::Nil, Value::Nil) => true,
            (Value::Nil, _) | (_, Value::Nil) => false,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Float(x), Value::Float(y)) => x == y,
            (Value::Str(x), Value::Str(y)) => x == y,
            (Value::Object(x), Value::Object(y)) if x.identity().is_some() => {
                x.identity() == y.identity()
            }
            _ if k1.is_some() && k2.is_some() => return Err(BAD_COMPARISON.into()),
            _ if k1.is_some() != k2.is_some() => return Err(BAD_COMPARISON.into()),
            _ => {
                return Err(format!(
                    "non-comparable types {}: {}, {}: {}",
                    a.type_name(),
                    a.type_name(),
                    b.type_name(),
                    b.type_name()
                ));
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn lt(a: &Value<'_>, b: &Value<'_>) -> Result<bool, String> {
    let (Some(k1), Some(k2)) = (basic_kind(a), basic_kind(b)) else {
        return Err(BAD_COMPARISON_TYPE.into());
    };
    if k1 != k2 {
        return Err(BAD_COMPARISON.into());
    }
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Str(x), Value::Str(y)) => x < y,
        _ => return Err(BAD_COMPARISON_TYPE.into()),
    })
}

/// `template.HTMLEscapeString`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `template.JSEscapeString`.
pub(crate) fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c if c.is_ascii() || gofmt::is_print(c) => out.push(c),
            c => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
        }
    }
    out
}

/// `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

// --- Prometheus functions ---------------------------------------------------------------------

/// `strings.ToUpper`: Go maps rune by rune (`unicode.ToUpper`), so a letter whose full
/// upper case is several characters (`ß` → `SS`) stays as it is.
fn to_upper(s: &str) -> String {
    s.chars().map(upper_rune).collect()
}

fn upper_rune(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// `strings.ToLower`, rune by rune; `İ` lowers to `i` as in Go.
fn to_lower(s: &str) -> String {
    s.chars()
        .map(|c| c.to_lowercase().next().unwrap_or(c))
        .collect()
}

/// `strings.Title`: upper-cases the first letter of each word.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev = ' ';
    for c in s.chars() {
        let sep = if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphanumeric() {
            false
        } else {
            c.is_whitespace()
        };
        let prev_sep = if prev.is_ascii() {
            !(prev.is_ascii_alphanumeric() || prev == '_')
        } else if prev.is_alphanumeric() {
            false
        } else {
            prev.is_whitespace()
        };
        if prev_sep && !sep {
            out.push(upper_rune(c));
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// `net.SplitHostPort`.
pub(crate) fn split_host_port(hp: &str) -> Result<(&str, &str), ()> {
    let i = hp.rfind(':').ok_or(())?;
    let (host, j, k);
    if hp.starts_with('[') {
        let end = hp.find(']').ok_or(())?;
        if end + 1 == hp.len() || end + 1 != i {
            return Err(());
        }
        host = &hp[1..end];
        j = 1;
        k = end + 1;
    } else {
        host = &hp[..i];
        if host.contains(':') {
            return Err(());
        }
        j = 0;
        k = 0;
    }
    if hp[j..].contains('[') || hp[k..].contains(']') {
        return Err(());
    }
    Ok((host, &hp[i + 1..]))
}

fn strip_domain(hp: &str) -> String {
    let (host, port) = match split_host_port(hp) {
        Ok((h, p)) => (h, p),
        Err(()) => (hp, ""),
    };
    if host.parse::<std::net::IpAddr>().is_ok() {
        return hp.to_string();
    }
    let host = host.split('.').next().unwrap_or("");
    if port.is_empty() {
        host.to_string()
    } else if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Prometheus's `convertToFloat`.
fn to_float(v: &Value<'_>) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Duration(d) => Ok(*d as f64 / 1e9),
        Value::Str(s) => parse_float(s),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

/// `strconv.ParseFloat(s, 64)` for decimal input, with Go's error texts.
pub(crate) fn parse_float(s: &str) -> Result<f64, String> {
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    let special = matches!(body, "inf" | "infinity" | "nan");
    let ok_chars = special
        || (!body.is_empty()
            && body
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-')));
    let parsed = if ok_chars {
        s.parse::<f64>().ok()
    } else {
        None
    };
    match parsed {
        Some(f) if f.is_infinite() && !special => Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            gofmt::quote(s)
        )),
        Some(f) => Ok(f),
        None => Err(format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            gofmt::quote(s)
        )),
    }
}

/// `fmt.Sprintf("%.4g", v)`.
fn g4(v: f64) -> String {
    gofmt::format_g(v, Some(4), false)
}

fn humanize(mut v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    if v.abs() >= 1.0 {
        let mut prefix = "";
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
        return format!("{}{prefix}", g4(v));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}", g4(v))
}

fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let mut sign = "";
        if v < 0.0 {
            sign = "-";
            v = -v;
        }
        let duration = v as i64;
        let seconds = duration % 60;
        let minutes = (duration / 60) % 60;
        let hours = (duration / 60 / 60) % 24;
        let days = duration / 60 / 60 / 24;
        if days != 0 {
            return format!("{sign}{days}d {hours}h {minutes}m {seconds}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {minutes}m {seconds}s");
        }
        if minutes != 0 {
            return format!("{sign}{minutes}m {seconds}s");
        }
        return format!("{sign}{}s", g4(v));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

/// Prometheus's `floatToTime`: seconds to a UTC time, truncated to milliseconds as
/// `model.TimeFromUnixNano` does.
fn float_to_time(v: f64) -> Result<GoTime, String> {
    let ts = v * 1e9;
    if ts > i64::MAX as f64 || ts < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            gofmt::format_g(v, None, false)
        ));
    }
    let ns = ts as i64;
    let ms = ns / 1_000_000;
    Ok(GoTime {
        nanos: ms as i128 * 1_000_000,
    })
}

/// `model.ParseDuration` (`1h30m`, `5m`, `1d`, `2w`, `1y`, `100ms`), in seconds.
pub(crate) fn parse_duration(d: &str) -> Result<f64, String> {
    if d.is_empty() {
        return Err("empty duration string".into());
    }
    if d == "0" {
        return Ok(0.0);
    }
    let invalid = || format!("not a valid duration string: {}", gofmt::quote(d));
    const UNITS: [(&str, i128); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    let b = d.as_bytes();
    let mut i = 0;
    let mut last_unit: Option<usize> = None;
    let mut total_ms: i128 = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(invalid());
        }
        let n: i128 = d[start..i].parse().map_err(|_| invalid())?;
        let unit_start = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &d[unit_start..i];
        let idx = UNITS
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(invalid)?;
        if last_unit.is_some_and(|l| idx <= l) {
            return Err(invalid());
        }
        last_unit = Some(idx);
        total_ms += n * UNITS[idx].1;
        if total_ms > i64::MAX as i128 / 1_000_000 {
            return Err("duration out of range".into());
        }
    }
    Ok(total_ms as f64 / 1000.0)
}
