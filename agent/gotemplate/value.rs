//! Template values: what a pipeline evaluates to, and how Go's `fmt` prints each kind.
//!
//! The variants stand for the Go types every template sees: untyped constants (`int`,
//! `float64`, `string`, `bool`), `map[string]string` label sets, `map[string]interface{}` from
//! `args`, lists, `*time.Time` and `*time.Duration`. Everything else (the root data struct,
//! Prometheus's query results, Alertmanager's alerts) is an [`Object`] an adapter defines:
//! the engine reaches it only through the trait, the way Go's `text/template` reaches data
//! through reflection.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::rc::Rc;

use super::gofmt::{self, GoTime};
use crate::store::Labels;

/// A template value.
#[derive(Clone)]
pub enum Value<'a> {
    /// A nil interface (missing value); printed by an action as `<no value>`.
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    /// `map[string]string` borrowed from the caller (e.g. an alert's labels).
    Labels(&'a Labels),
    /// `map[string]string` owned by the value (e.g. a query sample's labels).
    OwnedLabels(Rc<Labels>),
    /// `map[string]interface{}` built by `args`, sorted by key.
    Map(Rc<Vec<(String, Value<'a>)>>),
    /// `*time.Time` (UTC), from `toTime`.
    Time(GoTime),
    /// `*time.Duration` in nanoseconds, from `toDuration`.
    Duration(i64),
    /// A list of values (`[]interface {}`).
    List(Rc<Vec<Value<'a>>>),
    /// A value of a type an adapter defines (a struct, a pointer to one, a named slice or
    /// map with methods).
    Object(Rc<dyn Object<'a> + 'a>),
}

impl std::fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.type_name(), self.to_v_string())
    }
}

/// The Go kind of an [`Object`]: how the engine prints, ranges over, indexes and compares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A struct value: printed `{f1 f2}`, never empty, not comparable (it holds maps).
    Struct,
    /// A pointer to a struct: printed `&{f1 f2}` (an action prints `{f1 f2}`), compared by
    /// [`Object::identity`].
    PtrStruct,
    /// A slice: printed `[e1 e2]`; `range`, `len`, `index` and `slice` use
    /// [`Object::len`] / [`Object::item`] / [`Object::slice`].
    List,
    /// A `map[string]...`: printed `map[k:v]`; `range` and `len` use [`Object::len`] /
    /// [`Object::item`] (pairs in key order), `index` uses [`Object::get`].
    Map,
}

/// Data of a type the engine does not know: the adapter's side of Go's reflection.
///
/// `.Name` on an object calls [`Object::field`] (with a method's arguments, if the command
/// gives any); everything else the engine does with it goes by its [`Kind`].
pub trait Object<'a> {
    /// Go's `%T` of the value (`*template.sample`, `template.Alerts`, ...).
    fn type_name(&self) -> &str;

    /// What kind of Go value this is.
    fn kind(&self) -> Kind;

    /// A field, a method's result or (for maps) the value under a key. `Ok(None)` means no
    /// such field or method ("can't evaluate field ..."); `Err` is a failed method call,
    /// in Go's words.
    fn field(&self, name: &str, args: &[Value<'a>]) -> Result<Option<Value<'a>>, String>;

    /// Whether `name` is a method (so a command may pass it arguments).
    fn has_method(&self, _name: &str) -> bool {
        false
    }

    /// Struct kinds: the fields in declaration order, for printing.
    fn fields(&self) -> Vec<(&'static str, Value<'a>)> {
        Vec::new()
    }

    /// List and map kinds: the number of elements.
    fn len(&self) -> usize {
        0
    }

    /// List and map kinds: whether there are no elements.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// List kinds: (`i`, element `i`); map kinds: the `i`th (key, value) in key order.
    fn item(&self, i: usize) -> (Value<'a>, Value<'a>) {
        (Value::Int(i as i64), Value::Nil)
    }

    /// Map kinds: the value under `key` (the zero value if absent).
    fn get(&self, _key: &str) -> Value<'a> {
        Value::Nil
    }

    /// List kinds: elements `lo..hi` (checked by the caller), keeping the list's type.
    fn slice(&self, lo: usize, hi: usize) -> Value<'a> {
        Value::List(Rc::new((lo..hi).map(|i| self.item(i).1).collect()))
    }

    /// Pointer kinds: the address `eq` compares.
    fn identity(&self) -> Option<*const ()> {
        None
    }

    /// The concrete value, for an adapter's functions that take their own types.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

impl<'a> Value<'a> {
    /// A string value.
    pub fn str(s: impl Into<Cow<'a, str>>) -> Self {
        Value::Str(s.into())
    }

    /// An adapter's value.
    pub fn object(o: impl Object<'a> + 'a) -> Self {
        Value::Object(Rc::new(o))
    }

    /// Go's `%T` of the value.
    pub fn type_name(&self) -> &str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Labels(_) | Value::OwnedLabels(_) => "map[string]string",
            Value::Map(_) => "map[string]interface {}",
            Value::Time(_) => "*time.Time",
            Value::Duration(_) => "*time.Duration",
            Value::List(_) => "[]interface {}",
            Value::Object(o) => o.type_name(),
        }
    }

    /// The label set behind a `map[string]string` value.
    pub fn label_map(&self) -> Option<&Labels> {
        match self {
            Value::Labels(l) => Some(l),
            Value::OwnedLabels(l) => Some(l),
            _ => None,
        }
    }

    /// The object behind an adapter's value of kind `kind`.
    pub fn as_object(&self) -> Option<&(dyn Object<'a> + 'a)> {
        match self {
            Value::Object(o) => Some(&**o),
            _ => None,
        }
    }

    /// The string behind a `string` value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The strings of a list of strings (`[]string`, or a list whose elements are all
    /// strings), or None.
    pub fn as_strings(&self) -> Option<Vec<String>> {
        let items: Vec<Value<'_>> = match self {
            Value::List(l) => l.iter().cloned().collect(),
            Value::Object(o) if o.kind() == Kind::List => {
                (0..o.len()).map(|i| o.item(i).1).collect()
            }
            _ => return None,
        };
        items
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect()
    }

    /// Go's truth: false for false, zero numbers, nil, and empty strings, maps and slices.
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Labels(l) => !l.is_empty(),
            Value::OwnedLabels(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Object(o) => match o.kind() {
                Kind::Struct | Kind::PtrStruct => true,
                Kind::List | Kind::Map => !o.is_empty(),
            },
            Value::Time(_) | Value::Duration(_) => true,
        }
    }

    /// What an action `{{ x }}` prints: `fmt.Fprint` after text/template's `printableValue`
    /// (a nil interface prints `<no value>`, a pointer is printed as what it points to).
    pub fn write_action(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<no value>"),
            Value::Object(o) if o.kind() == Kind::PtrStruct => write_struct(out, &**o),
            other => other.write_v(out),
        }
    }

    /// `fmt`'s `%v` of the value.
    pub fn write_v(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&gofmt::format_g(*f, None, false)),
            Value::Str(s) => out.push_str(s),
            Value::Labels(l) => write_labels(out, l),
            Value::OwnedLabels(l) => write_labels(out, l),
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_v(out);
                }
                out.push(']');
            }
            Value::Time(t) => out.push_str(&t.go_string()),
            Value::Duration(d) => out.push_str(&gofmt::duration_string(*d)),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_v(out);
                }
                out.push(']');
            }
            Value::Object(o) => match o.kind() {
                Kind::Struct => write_struct(out, &**o),
                Kind::PtrStruct => {
                    out.push('&');
                    write_struct(out, &**o);
                }
                Kind::List => {
                    out.push('[');
                    for i in 0..o.len() {
                        if i > 0 {
                            out.push(' ');
                        }
                        o.item(i).1.write_v(out);
                    }
                    out.push(']');
                }
                Kind::Map => {
                    out.push_str("map[");
                    for i in 0..o.len() {
                        if i > 0 {
                            out.push(' ');
                        }
                        let (k, v) = o.item(i);
                        k.write_v(out);
                        out.push(':');
                        v.write_v(out);
                    }
                    out.push(']');
                }
            },
        }
    }

    /// `fmt.Sprint` of the value alone.
    pub fn to_v_string(&self) -> String {
        let mut s = String::new();
        self.write_v(&mut s);
        s
    }
}

fn write_struct(out: &mut String, o: &dyn Object<'_>) {
    out.push('{');
    for (i, (_, v)) in o.fields().iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        v.write_v(out);
    }
    out.push('}');
}

fn write_labels(out: &mut String, l: &Labels) {
    out.push_str("map[");
    for (i, label) in l.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&label.name);
        out.push(':');
        out.push_str(&label.value);
    }
    out.push(']');
}
