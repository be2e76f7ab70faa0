//! Maps field paths (`probes.targets[2].url`) to where they stand in the YAML text, so that
//! validation errors found after deserialisation can still say `file:line:col`.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl From<Marker> for Pos {
    fn from(m: Marker) -> Self {
        // yaml-rust2's line is 1-based, its column 0-based.
        Pos {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

/// Where each path's key and value start.
#[derive(Debug, Default)]
pub struct Positions {
    values: HashMap<String, Pos>,
    /// Mapping keys by where they stand, to name the field a positioned error points at.
    keys_at: HashMap<Pos, String>,
    /// Where each path's key stands (an unknown field is shown at its key).
    keys: HashMap<String, Pos>,
}

impl Positions {
    /// Reads `text`; an unparsable document yields an empty map (the YAML error is reported
    /// by deserialisation, with its own position).
    pub fn of(text: &str) -> Self {
        let mut walker = Walker::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut walker, false).is_err() {
            return Positions::default();
        }
        walker.positions
    }

    /// The path of the mapping key or value standing at `pos`, if any.
    pub fn path_at(&self, pos: Pos) -> Option<&str> {
        self.keys_at.get(&pos).map(String::as_str).or_else(|| {
            self.values
                .iter()
                .filter(|(_, p)| **p == pos)
                .map(|(path, _)| path.as_str())
                .max_by_key(|p| p.len())
        })
    }

    /// Where the key of `path` stands, if `path` is a mapping key in the text.
    pub fn key(&self, path: &str) -> Option<Pos> {
        self.keys.get(path).copied()
    }

    /// Where the value at `path` starts, or failing that where its closest ancestor does.
    pub fn value(&self, path: &str) -> Option<Pos> {
        let mut p = path;
        loop {
            if let Some(pos) = self.values.get(p) {
                return Some(*pos);
            }
            p = parent(p)?;
        }
    }
}

fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

enum Frame {
    /// In a mapping; `Some(key)` once a key was read and its value is awaited.
    Map(String, Option<String>),
    /// In a sequence, with the index the next item takes.
    Seq(String, usize),
}

#[derive(Default)]
struct Walker {
    stack: Vec<Frame>,
    positions: Positions,
}

fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

impl Walker {
    /// Called for each node; returns the node's path if it is a value (not a mapping key).
    fn node(&mut self, mark: Marker, scalar: Option<&str>) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq(base, i)) => {
                let path = format!("{base}[{i}]");
                *i += 1;
                Some(path)
            }
            Some(Frame::Map(base, pending)) => match pending.take() {
                Some(key) => Some(join(base, &key)),
                None => {
                    let key = scalar.unwrap_or_default().to_string();
                    let path = join(base, &key);
                    self.positions.keys.insert(path.clone(), mark.into());
                    self.positions.keys_at.insert(mark.into(), path);
                    *pending = Some(key);
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, ..) => {
                if let Some(path) = self.node(mark, Some(&value)) {
                    self.positions.values.insert(path, mark.into());
                }
            }
            Event::Alias(_) => {
                if let Some(path) = self.node(mark, None) {
                    self.positions.values.insert(path, mark.into());
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = self.node(mark, None).unwrap_or_default();
                self.positions.values.insert(path.clone(), mark.into());
                self.stack.push(if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map(path, None)
                } else {
                    Frame::Seq(path, 0)
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_values_and_list_items() {
        let text = "server:\n  listen: \"x\"\nprobes:\n  targets:\n    - name: a\n      conditions: [\"status == 200\", bad]\n";
        let p = Positions::of(text);
        assert_eq!(p.value("server.listen"), Some(Pos { line: 2, col: 11 }));
        assert_eq!(
            p.value("probes.targets[0].name"),
            Some(Pos { line: 5, col: 13 })
        );
        assert_eq!(
            p.value("probes.targets[0].conditions[1]"),
            Some(Pos { line: 6, col: 37 })
        );
        assert_eq!(p.path_at(Pos { line: 2, col: 3 }), Some("server.listen"));
        // A path that is not in the text falls back to its closest ancestor.
        assert_eq!(
            p.value("probes.targets[0].timeout").map(|p| p.line),
            Some(5)
        );
    }
}
