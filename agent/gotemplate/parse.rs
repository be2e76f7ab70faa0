//! The parser: tokens to a syntax tree, following Go's `text/template/parse/parse.go`.
//!
//! It owns the grammar (pipelines, commands, operands, field chains, control structures,
//! `define`/`template`/`block`), the parse-time checks Go makes (functions must exist,
//! variables must be declared, literals cannot be later pipeline stages, `break`/`continue`
//! only inside `range`), and number and string literal decoding.

use std::collections::HashMap;

use super::funcs::{Func, FuncMap};
use super::gofmt;
use super::lex::{Kind, Token};

#[derive(Debug)]
pub(crate) struct ParseError {
    pub pos: usize,
    pub msg: String,
}

#[derive(Debug)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    With(Branch),
    Range(Branch),
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

#[derive(Debug)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Debug)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Cmd>,
}

#[derive(Debug)]
pub(crate) struct Cmd {
    pub pos: usize,
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
    /// An integer literal too large for `int`.
    Overflow,
}

#[derive(Debug)]
pub(crate) enum Arg {
    Field {
        pos: usize,
        idents: Vec<String>,
    },
    Variable {
        pos: usize,
        name: String,
        fields: Vec<String>,
    },
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
    Ident {
        pos: usize,
        name: String,
        func: Func,
    },
    Dot {
        pos: usize,
    },
    Nil {
        pos: usize,
    },
    Bool {
        pos: usize,
        val: bool,
    },
    Number {
        pos: usize,
        text: String,
        val: Num,
    },
    Str {
        pos: usize,
        quoted: String,
        val: String,
    },
    Pipe(Box<Pipe>),
}

impl Arg {
    pub fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Chain { pos, .. }
            | Arg::Ident { pos, .. }
            | Arg::Dot { pos }
            | Arg::Nil { pos }
            | Arg::Bool { pos, .. }
            | Arg::Number { pos, .. }
            | Arg::Str { pos, .. } => *pos,
            Arg::Pipe(p) => p.pos,
        }
    }

    /// Go's `Node.String()`: the source form, used in error contexts.
    pub fn describe(&self) -> String {
        match self {
            Arg::Field { idents, .. } => idents.iter().map(|i| format!(".{i}")).collect(),
            Arg::Variable { name, fields, .. } => {
                let mut s = name.clone();
                for f in fields {
                    s.push('.');
                    s.push_str(f);
                }
                s
            }
            Arg::Chain { node, fields, .. } => {
                let mut s = match node.as_ref() {
                    Arg::Pipe(p) => format!("({})", p.describe()),
                    other => other.describe(),
                };
                for f in fields {
                    s.push('.');
                    s.push_str(f);
                }
                s
            }
            Arg::Ident { name, .. } => name.clone(),
            Arg::Dot { .. } => ".".into(),
            Arg::Nil { .. } => "nil".into(),
            Arg::Bool { val, .. } => val.to_string(),
            Arg::Number { text, .. } => text.clone(),
            Arg::Str { quoted, .. } => quoted.clone(),
            Arg::Pipe(p) => format!("({})", p.describe()),
        }
    }
}

impl Cmd {
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self.args.iter().map(Arg::describe).collect();
        parts.join(" ")
    }
}

impl Pipe {
    pub fn describe(&self) -> String {
        let mut s = String::new();
        if !self.decl.is_empty() {
            s.push_str(&self.decl.join(", "));
            s.push_str(if self.is_assign { " = " } else { " := " });
        }
        let cmds: Vec<String> = self.cmds.iter().map(Cmd::describe).collect();
        s.push_str(&cmds.join(" | "));
        s
    }
}

/// Deepest nesting of `if`/`range`/`with`/`block` and parentheses a template may have.
pub(crate) const MAX_NESTING: usize = 100;

/// The parsed templates: the top-level one under the template's name, plus every `define`
/// and `block`.
pub(crate) type Trees = HashMap<String, Vec<Node>>;

struct Parser<'s> {
    toks: Vec<Token<'s>>,
    funcs: &'s FuncMap,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    /// Nesting of control structures, blocks and parentheses (bounded: the parser and the
    /// evaluator recurse on it).
    depth: usize,
    trees: Trees,
}

type PResult<T> = Result<T, ParseError>;

pub(crate) fn parse<'s>(name: &str, toks: Vec<Token<'s>>, funcs: &'s FuncMap) -> PResult<Trees> {
    let mut p = Parser {
        toks,
        funcs,
        i: 0,
        vars: vec!["$".into()],
        range_depth: 0,
        depth: 0,
        trees: HashMap::new(),
    };
    let mut root = Vec::new();
    while p.peek().kind != Kind::Eof {
        if p.peek().kind == Kind::LeftDelim {
            let save = p.i;
            p.next();
            if p.next_non_space().kind == Kind::Define {
                p.parse_definition()?;
                continue;
            }
            p.i = save;
        }
        match p.text_or_action()? {
            Item::Node(n) => root.push(n),
            Item::End(pos) => return Err(err(pos, "unexpected {{end}}")),
            Item::Else(pos, _) => return Err(err(pos, "unexpected {{else}}")),
        }
    }
    p.add_tree(name.to_string(), root, 0)?;
    Ok(p.trees)
}

fn err(pos: usize, msg: impl Into<String>) -> ParseError {
    ParseError {
        pos,
        msg: msg.into(),
    }
}

enum Item {
    Node(Node),
    End(usize),
    /// `{{else}}`; the flag says an `if`/`with` keyword follows (still pending).
    Else(usize, Option<Kind>),
}

pub(crate) fn is_empty_tree(nodes: &[Node]) -> bool {
    nodes.iter().all(|n| match n {
        Node::Text(t) => t.trim().is_empty(),
        _ => false,
    })
}

impl<'s> Parser<'s> {
    fn peek(&self) -> &Token<'s> {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn next(&mut self) -> Token<'s> {
        let t = self.toks[self.i.min(self.toks.len() - 1)].clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn next_non_space(&mut self) -> Token<'s> {
        loop {
            let t = self.next();
            if t.kind != Kind::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Token<'s> {
        let save = self.i;
        let t = self.next_non_space();
        self.i = save;
        t
    }

    /// Moves back to just before the last non-space token consumed.
    fn backup_to(&mut self, idx: usize) {
        self.i = idx;
    }

    fn expect(&mut self, kind: Kind, context: &str) -> PResult<Token<'s>> {
        let t = self.next_non_space();
        if t.kind != kind {
            return Err(unexpected(&t, context));
        }
        Ok(t)
    }

    fn add_tree(&mut self, name: String, root: Vec<Node>, pos: usize) -> PResult<()> {
        match self.trees.get(&name) {
            Some(existing) if !is_empty_tree(existing) => {
                if !is_empty_tree(&root) {
                    return Err(err(
                        pos,
                        format!(
                            "template: multiple definition of template {}",
                            gofmt::quote(&name)
                        ),
                    ));
                }
                Ok(())
            }
            _ => {
                self.trees.insert(name, root);
                Ok(())
            }
        }
    }

    fn parse_definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let t = self.next_non_space();
        let name = match t.kind {
            Kind::String | Kind::RawString => unquote(t.val, t.pos)?,
            _ => return Err(unexpected(&t, CONTEXT)),
        };
        self.expect(Kind::RightDelim, CONTEXT)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        match end {
            Item::End(_) => {}
            Item::Else(pos, _) => {
                return Err(err(pos, format!("unexpected {{{{else}}}} in {CONTEXT}")));
            }
            Item::Node(_) => {}
        }
        self.add_tree(name, list, t.pos)
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, Item)> {
        let mut list = Vec::new();
        while self.peek_non_space().kind != Kind::Eof {
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                other => return Ok((list, other)),
            }
        }
        Err(err(self.peek().pos, "unexpected EOF"))
    }

    fn text_or_action(&mut self) -> PResult<Item> {
        let t = self.next_non_space();
        match t.kind {
            Kind::Text => Ok(Item::Node(Node::Text(t.val.to_string()))),
            Kind::LeftDelim => self.action(),
            _ => Err(unexpected(&t, "input")),
        }
    }

    fn action(&mut self) -> PResult<Item> {
        let save = self.i;
        let t = self.next_non_space();
        match t.kind {
            Kind::Block => return self.block_control(t.pos).map(Item::Node),
            Kind::Break | Kind::Continue => {
                let word = if t.kind == Kind::Break {
                    "break"
                } else {
                    "continue"
                };
                self.expect(Kind::RightDelim, word)?;
                if self.range_depth == 0 {
                    return Err(err(t.pos, format!("{{{{{word}}}}} outside {{{{range}}}}")));
                }
                return Ok(Item::Node(if t.kind == Kind::Break {
                    Node::Break
                } else {
                    Node::Continue
                }));
            }
            Kind::Else => return self.else_control(t.pos),
            Kind::End => {
                self.expect(Kind::RightDelim, "end")?;
                return Ok(Item::End(t.pos));
            }
            Kind::If => return self.control("if").map(|b| Item::Node(Node::If(b))),
            Kind::Range => return self.control("range").map(|b| Item::Node(Node::Range(b))),
            Kind::With => return self.control("with").map(|b| Item::Node(Node::With(b))),
            Kind::Template => return self.template_control().map(Item::Node),
            _ => {}
        }
        self.backup_to(save);
        let pipe = self.pipeline("command", Kind::RightDelim)?;
        Ok(Item::Node(Node::Action(pipe)))
    }

    fn else_control(&mut self, pos: usize) -> PResult<Item> {
        let peek = self.peek_non_space();
        if peek.kind == Kind::If || peek.kind == Kind::With {
            return Ok(Item::Else(pos, Some(peek.kind)));
        }
        self.expect(Kind::RightDelim, "else")?;
        Ok(Item::Else(pos, None))
    }

    /// Enters one level of nesting at `pos`, refusing to go past [`MAX_NESTING`].
    fn enter(&mut self, pos: usize) -> PResult<()> {
        if self.depth >= MAX_NESTING {
            return Err(err(
                pos,
                format!("template nesting exceeds {MAX_NESTING} levels"),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn control(&mut self, context: &str) -> PResult<Branch> {
        self.enter(self.peek().pos)?;
        let nvars = self.vars.len();
        let result = self.control_inner(context);
        self.vars.truncate(nvars);
        self.depth -= 1;
        result
    }

    fn control_inner(&mut self, context: &str) -> PResult<Branch> {
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let listed = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, next) = listed?;
        let mut else_list = None;
        match next {
            Item::End(_) | Item::Node(_) => {}
            Item::Else(pos, chained) => {
                let chain_ok = matches!(
                    (context, chained),
                    ("if", Some(Kind::If)) | ("with", Some(Kind::With))
                );
                if chain_ok {
                    self.next_non_space(); // the `if` / `with` keyword
                    let inner = self.control(context)?;
                    let node = if context == "if" {
                        Node::If(inner)
                    } else {
                        Node::With(inner)
                    };
                    else_list = Some(vec![node]);
                } else {
                    if chained.is_some() {
                        // `{{else if}}` inside `with` (or vice versa): Go reads the keyword as
                        // the start of an `{{else}}` pipeline, which is an error.
                        let t = self.next_non_space();
                        return Err(unexpected(&t, "input"));
                    }
                    let (elist, end) = self.item_list()?;
                    match end {
                        Item::End(_) => {}
                        Item::Else(p, _) => {
                            return Err(err(p, "expected end; found {{else}}"));
                        }
                        Item::Node(_) => return Err(err(pos, "expected end")),
                    }
                    else_list = Some(elist);
                }
            }
        }
        Ok(Branch {
            pipe,
            list,
            else_list,
        })
    }

    fn template_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "template clause";
        let t = self.next_non_space();
        let name = match t.kind {
            Kind::String | Kind::RawString => unquote(t.val, t.pos)?,
            _ => return Err(unexpected(&t, CONTEXT)),
        };
        let save = self.i;
        let pipe = if self.next_non_space().kind != Kind::RightDelim {
            self.backup_to(save);
            Some(self.pipeline(CONTEXT, Kind::RightDelim)?)
        } else {
            None
        };
        Ok(Node::Template {
            pos: t.pos,
            name,
            pipe,
        })
    }

    fn block_control(&mut self, pos: usize) -> PResult<Node> {
        self.enter(pos)?;
        let result = self.block_control_inner(pos);
        self.depth -= 1;
        result
    }

    fn block_control_inner(&mut self, pos: usize) -> PResult<Node> {
        const CONTEXT: &str = "block clause";
        let t = self.next_non_space();
        let name = match t.kind {
            Kind::String | Kind::RawString => unquote(t.val, t.pos)?,
            _ => return Err(unexpected(&t, CONTEXT)),
        };
        let pipe = self.pipeline(CONTEXT, Kind::RightDelim)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let saved_depth = std::mem::replace(&mut self.range_depth, 0);
        let listed = self.item_list();
        self.vars = saved_vars;
        self.range_depth = saved_depth;
        let (list, end) = listed?;
        if let Item::Else(p, _) = end {
            return Err(err(p, format!("unexpected {{{{else}}}} in {CONTEXT}")));
        }
        self.add_tree(name.clone(), list, pos)?;
        Ok(Node::Template {
            pos: t.pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> PResult<Pipe> {
        let start = self.peek_non_space();
        let mut pipe = Pipe {
            pos: start.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        // Declarations: `$x :=`, `$x =`, or in range `$i, $e :=`.
        self.declarations(&mut pipe, context)?;
        loop {
            let save = self.i;
            let t = self.next_non_space();
            if t.kind == end {
                self.check_pipeline(&pipe, context, t.pos)?;
                return Ok(pipe);
            }
            match t.kind {
                Kind::Bool
                | Kind::Char
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup_to(save);
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(unexpected(&t, context)),
            }
        }
    }

    fn declarations(&mut self, pipe: &mut Pipe, context: &str) -> PResult<()> {
        let save = self.i;
        let v = self.next_non_space();
        if v.kind != Kind::Variable {
            self.backup_to(save);
            return Ok(());
        }
        let next = self.peek_non_space();
        match next.kind {
            Kind::Assign | Kind::Declare => {
                self.next_non_space();
                pipe.is_assign = next.kind == Kind::Assign;
                pipe.decl.push(v.val.to_string());
                if next.kind == Kind::Declare {
                    self.vars.push(v.val.to_string());
                } else if !self.vars.iter().any(|x| x == v.val) {
                    return Err(err(
                        v.pos,
                        format!("undefined variable {}", gofmt::quote(v.val)),
                    ));
                }
            }
            Kind::Comma => {
                self.next_non_space();
                pipe.decl.push(v.val.to_string());
                if context == "range" && pipe.decl.len() < 2 {
                    let v2 = self.peek_non_space();
                    if v2.kind == Kind::Variable {
                        // Parse the second variable and its `:=` / `=`.
                        let v2 = self.next_non_space();
                        let op = self.next_non_space();
                        match op.kind {
                            Kind::Assign | Kind::Declare => {
                                pipe.is_assign = op.kind == Kind::Assign;
                                pipe.decl.push(v2.val.to_string());
                                if op.kind == Kind::Declare {
                                    self.vars.push(v.val.to_string());
                                    self.vars.push(v2.val.to_string());
                                } else {
                                    for name in [v.val, v2.val] {
                                        if !self.vars.iter().any(|x| x == name) {
                                            return Err(err(
                                                v.pos,
                                                format!(
                                                    "undefined variable {}",
                                                    gofmt::quote(name)
                                                ),
                                            ));
                                        }
                                    }
                                }
                                return Ok(());
                            }
                            _ => return Err(unexpected(&op, "range")),
                        }
                    }
                    return Err(err(v.pos, "missing range variable"));
                }
                return Err(err(v.pos, format!("too many declarations in {context}")));
            }
            _ => self.backup_to(save),
        }
        Ok(())
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str, pos: usize) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return Err(err(pos, format!("missing value for {context}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args.first(),
                Some(
                    Arg::Bool { .. }
                        | Arg::Dot { .. }
                        | Arg::Nil { .. }
                        | Arg::Number { .. }
                        | Arg::Str { .. }
                )
            ) {
                return Err(err(
                    c.pos,
                    format!("non executable command in pipeline stage {}", i + 1),
                ));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Cmd> {
        let start = self.peek_non_space().pos;
        let mut cmd = Cmd {
            pos: start,
            args: Vec::new(),
        };
        loop {
            // Skip the spaces before the operand.
            while self.peek().kind == Kind::Space {
                self.next();
            }
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let t = self.next();
            match t.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => {
                    self.i -= 1;
                }
                Kind::Pipe => {}
                _ => return Err(unexpected(&t, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(err(start, "empty command"));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind != Kind::Field {
            return Ok(Some(node));
        }
        let chain_pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().kind == Kind::Field {
            let f = self.next();
            fields.push(f.val[1..].to_string());
        }
        let node = match node {
            Arg::Field { pos, mut idents } => {
                idents.extend(fields);
                Arg::Field { pos, idents }
            }
            Arg::Variable {
                pos,
                name,
                fields: mut f,
            } => {
                f.extend(fields);
                Arg::Variable {
                    pos,
                    name,
                    fields: f,
                }
            }
            Arg::Bool { .. }
            | Arg::Str { .. }
            | Arg::Number { .. }
            | Arg::Nil { .. }
            | Arg::Dot { .. } => {
                return Err(err(
                    chain_pos,
                    format!("unexpected . after term {}", gofmt::quote(&node.describe())),
                ));
            }
            other => Arg::Chain {
                pos: chain_pos,
                node: Box::new(other),
                fields,
            },
        };
        Ok(Some(node))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let save = self.i;
        let t = self.next_non_space();
        let pos = t.pos;
        let arg = match t.kind {
            Kind::Identifier => match self.funcs.lookup(t.val) {
                Some(func) => Arg::Ident {
                    pos,
                    name: t.val.to_string(),
                    func,
                },
                None => {
                    return Err(err(
                        pos,
                        format!("function {} not defined", gofmt::quote(t.val)),
                    ));
                }
            },
            Kind::Dot => Arg::Dot { pos },
            Kind::Nil => Arg::Nil { pos },
            Kind::Variable => {
                if !self.vars.iter().any(|v| v == t.val) {
                    return Err(err(
                        pos,
                        format!("undefined variable {}", gofmt::quote(t.val)),
                    ));
                }
                Arg::Variable {
                    pos,
                    name: t.val.to_string(),
                    fields: Vec::new(),
                }
            }
            Kind::Field => Arg::Field {
                pos,
                idents: vec![t.val[1..].to_string()],
            },
            Kind::Bool => Arg::Bool {
                pos,
                val: t.val == "true",
            },
            Kind::Char | Kind::Number => {
                let val = parse_number(t.val, t.kind == Kind::Char, pos)?;
                Arg::Number {
                    pos,
                    text: t.val.to_string(),
                    val,
                }
            }
            Kind::LeftParen => {
                self.enter(pos)?;
                let pipe = self.pipeline("parenthesized pipeline", Kind::RightParen);
                self.depth -= 1;
                Arg::Pipe(Box::new(pipe?))
            }
            Kind::String | Kind::RawString => Arg::Str {
                pos,
                quoted: t.val.to_string(),
                val: unquote(t.val, pos)?,
            },
            _ => {
                self.backup_to(save);
                return Ok(None);
            }
        };
        Ok(Some(arg))
    }
}

fn unexpected(t: &Token<'_>, context: &str) -> ParseError {
    if t.kind == Kind::RightDelim || t.kind == Kind::LeftDelim {
        return err(
            t.pos,
            format!("unexpected {} in {context}", gofmt::quote(t.val)),
        );
    }
    err(t.pos, format!("unexpected {} in {context}", t.describe()))
}

/// Decodes a Go string literal (`"..."` with escapes, or a raw `` `...` `` string).
pub(crate) fn unquote(lit: &str, pos: usize) -> PResult<String> {
    if let Some(raw) = lit.strip_prefix('`') {
        return Ok(raw.strip_suffix('`').unwrap_or(raw).replace('\r', ""));
    }
    let inner = lit
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or_else(|| err(pos, format!("invalid syntax: {lit}")))?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        decode_escape(&mut chars, &mut out, '"').map_err(|m| err(pos, m))?;
    }
    Ok(out)
}

fn decode_escape(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    out: &mut String,
    quote: char,
) -> Result<(), String> {
    let bad = || "invalid syntax".to_string();
    let c = chars.next().ok_or_else(bad)?;
    let hex =
        |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize| -> Result<u32, String> {
            let mut v = 0u32;
            for _ in 0..n {
                let d = chars.next().and_then(|c| c.to_digit(16)).ok_or_else(bad)?;
                v = v * 16 + d;
            }
            Ok(v)
        };
    match c {
        'a' => out.push('\x07'),
        'b' => out.push('\x08'),
        'f' => out.push('\x0c'),
        'n' => out.push('\n'),
        'r' => out.push('\r'),
        't' => out.push('\t'),
        'v' => out.push('\x0b'),
        '\\' => out.push('\\'),
        c if c == quote => out.push(c),
        'x' => {
            let v = hex(chars, 2)?;
            // Go strings are bytes; a \x escape ≥ 0x80 is not valid UTF-8 on its own.
            out.push(char::from_u32(v).filter(|_| v < 0x80).ok_or_else(|| {
                format!("\\x{v:02x} escapes to a non-UTF-8 byte, which is not supported")
            })?);
        }
        'u' | 'U' => {
            let v = hex(chars, if c == 'u' { 4 } else { 8 })?;
            out.push(char::from_u32(v).ok_or_else(bad)?);
        }
        '0'..='7' => {
            let mut v = c.to_digit(8).unwrap_or(0);
            for _ in 0..2 {
                let d = chars.next().and_then(|c| c.to_digit(8)).ok_or_else(bad)?;
                v = v * 8 + d;
            }
            if v > 255 {
                return Err(bad());
            }
            out.push(char::from_u32(v).filter(|_| v < 0x80).ok_or_else(|| {
                format!("octal escape {v:o} is a non-UTF-8 byte, which is not supported")
            })?);
        }
        _ => return Err(bad()),
    }
    Ok(())
}

/// Go's number literal rules (`parse.newNumber` + `idealConstant`): integers in any base with
/// `_` separators become `int`; literals with `.`, `e` or `E` become `float64`; character
/// constants are their code point.
pub(crate) fn parse_number(text: &str, is_char: bool, pos: usize) -> PResult<Num> {
    if is_char {
        let inner = &text[1..text.len() - 1];
        let mut chars = inner.chars().peekable();
        let mut out = String::new();
        match chars.next() {
            Some('\\') => decode_escape(&mut chars, &mut out, '\'')
                .map_err(|_| err(pos, format!("malformed character constant: {text}")))?,
            Some(c) => out.push(c),
            None => return Err(err(pos, format!("malformed character constant: {text}"))),
        }
        if chars.next().is_some() || out.chars().count() != 1 {
            return Err(err(pos, format!("malformed character constant: {text}")));
        }
        return Ok(Num::Int(out.chars().next().map_or(0, |c| c as i64)));
    }
    if text.ends_with('i') {
        return Err(err(pos, format!("complex number {text} is not supported")));
    }
    let illegal = || {
        err(
            pos,
            format!("illegal number syntax: {}", gofmt::quote(text)),
        )
    };
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1
        && lower.starts_with('0')
        && lower.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if radix == 16 && (digits.contains('.') || digits.contains('p')) {
        return Err(err(
            pos,
            format!("hexadecimal float {text} is not supported"),
        ));
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() && radix != 8 {
        return Err(illegal());
    }
    let is_float_text = radix == 10 && clean.contains(['.', 'e']);
    if !is_float_text {
        let clean = if clean.is_empty() {
            "0".to_string()
        } else {
            clean
        };
        return match u64::from_str_radix(&clean, radix) {
            Ok(u) => {
                let v = if neg { -(u as i128) } else { u as i128 };
                Ok(i64::try_from(v).map_or(Num::Overflow, Num::Int))
            }
            Err(_) if radix == 10 && clean.bytes().all(|b| b.is_ascii_digit()) => Ok(Num::Overflow),
            Err(_) => Err(illegal()),
        };
    }
    let f: f64 = clean.parse().map_err(|_| illegal())?;
    if f.is_infinite() {
        return Err(illegal());
    }
    Ok(Num::Float(if neg { -f } else { f }))
}
