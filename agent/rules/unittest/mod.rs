//! `vitals test rules` and `vitals check rules`: Prometheus rule unit tests in promtool's
//! file format, run on the real rule engine over a fresh in-memory store per test, with
//! promtool's verdicts and report text; and rule-file validation.
//!
//! This sits beside the pipeline rather than in it: it builds its own [`crate::store::Store`],
//! writes the test's input series on a simulated clock, and drives
//! [`crate::rules::group::Group::eval`] exactly as the running daemon does, so a rule that
//! passes here behaves the same in production.
//!
//! Submodules: [`spec`] (the file schema), [`series`] (the series notation), [`format`]
//! (promtool's printing), `run` (one test group).

pub mod format;
mod run;
pub mod series;
pub mod spec;

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::rules::file::{LoadOptions, expand_patterns, load_files};

/// Options of `vitals test rules`.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// `--run`: only test groups whose `name` matches (unanchored).
    pub run: Option<Regex>,
}

impl TestOptions {
    /// Builds the options; `run` patterns are alternatives (`--run a --run b` is `a|b`).
    pub fn new(run: &[String]) -> Result<TestOptions, regex::Error> {
        let run = if run.is_empty() {
            None
        } else {
            Some(Regex::new(&run.join("|"))?)
        };
        Ok(TestOptions { run })
    }
}

/// The outcome of one test file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileReport {
    pub file: String,
    /// Globs in `rule_files` that matched nothing (promtool warns and goes on).
    pub warnings: Vec<String>,
    /// Failures and errors, each one block of promtool's report.
    pub failures: Vec<String>,
}

impl FileReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs every test of one file.
pub fn test_file(path: &Path, opts: &TestOptions) -> FileReport {
    let file = path.display().to_string();
    let mut report = FileReport {
        file: file.clone(),
        ..FileReport::default()
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            report
                .failures
                .push(format!("{file}: cannot read the test file: {e}"));
            return report;
        }
    };
    let parsed = match spec::parse(&text, &file) {
        Ok(p) => p,
        Err(e) => {
            report.failures.push(e.to_string());
            return report;
        }
    };
    let base = path.parent().unwrap_or(Path::new(""));
    let mut rule_files: Vec<PathBuf> = Vec::new();
    let mut seen = HashSet::new();
    for (i, pattern) in parsed.spec.rule_files.iter().enumerate() {
        let field = format!("rule_files[{i}]");
        let found = match expand_patterns(std::slice::from_ref(pattern), base) {
            Ok(found) => found,
            Err(errors) => {
                let message = errors
                    .0
                    .first()
                    .map_or_else(|| "invalid pattern".to_string(), |e| e.message.clone());
                report.failures.push(
                    parsed
                        .error_at(&field, format!("{pattern:?}: {message}"))
                        .to_string(),
                );
                return report;
            }
        };
        let is_glob = pattern.contains(['*', '?', '[']);
        if !found.unmatched.is_empty() {
            report.warnings.push(format!(
                "no file match pattern {}",
                base.join(pattern).display()
            ));
        }
        for f in found.files {
            if !is_glob && !f.is_file() {
                report.failures.push(
                    parsed
                        .error_at(
                            &field,
                            format!("no such rule file: {} (from {pattern:?})", f.display()),
                        )
                        .to_string(),
                );
                return report;
            }
            if seen.insert(f.clone()) {
                rule_files.push(f);
            }
        }
    }
    // Rule-file errors are reported once here, not once per test group.
    if let Err(errors) = load_files(&rule_files, &LoadOptions::default()) {
        report
            .failures
            .extend(errors.0.iter().map(|e| e.to_string()));
        return report;
    }
    let eval_interval_ms = match parsed.spec.evaluation_interval {
        Some(d) if !d.get().is_zero() => i64::try_from(d.get().as_millis()).unwrap_or(i64::MAX),
        _ => 60_000,
    };
    let mut order = HashMap::new();
    for (i, g) in parsed.spec.group_eval_order.iter().enumerate() {
        if order.insert(g.clone(), i).is_some() {
            report
                .failures
                .push(format!("group name repeated in evaluation order: {g}"));
            return report;
        }
    }
    let ctx = run::FileContext {
        parsed: &parsed,
        rule_files: &rule_files,
        eval_interval_ms,
        order: &order,
        fuzzy: parsed.spec.fuzzy_compare,
    };
    for (i, tg) in parsed.spec.tests.iter().enumerate() {
        if let Some(re) = &opts.run
            && !re.is_match(&tg.name)
        {
            continue;
        }
        report.failures.extend(run::run_group(tg, i, &ctx));
    }
    report
}

/// Writes one file's report as promtool does: the verdict and failures on `err`, the rest
/// (and one empty line after each failure) on `out`.
pub fn write_report(r: &FileReport, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "Unit Testing:  {}", r.file)?;
    out.flush()?;
    for w in &r.warnings {
        writeln!(err, "  WARNING: {w}")?;
    }
    if r.passed() {
        writeln!(out, "  SUCCESS")?;
    } else {
        writeln!(err, "  FAILED:")?;
        for f in &r.failures {
            writeln!(err, "{f}")?;
            err.flush()?;
            writeln!(out)?;
            out.flush()?;
        }
    }
    writeln!(out)?;
    out.flush()?;
    err.flush()
}

/// `vitals test rules FILE...`: true when every test of every file passed.
pub fn test_files(
    files: &[PathBuf],
    opts: &TestOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<bool> {
    let mut all = true;
    for f in files {
        let r = test_file(f, opts);
        all &= r.passed();
        write_report(&r, out, err)?;
    }
    Ok(all)
}

/// `vitals check rules FILE...`: validates each file, printing `Checking FILE` and either
/// `  SUCCESS: N rules found` or `  FAILED:` and every error (`file:line:col: path: message`).
/// True when every file is valid.
pub fn check_rule_files(
    files: &[PathBuf],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<bool> {
    let mut all = true;
    for f in files {
        writeln!(out, "Checking {}", f.display())?;
        out.flush()?;
        match load_files(std::slice::from_ref(f), &LoadOptions::default()) {
            Ok(groups) => {
                let n: usize = groups.iter().map(|g| g.rules.len()).sum();
                writeln!(out, "  SUCCESS: {n} rules found")?;
            }
            Err(errors) => {
                all = false;
                writeln!(err, "  FAILED:")?;
                for e in &errors.0 {
                    writeln!(err, "{e}")?;
                }
                err.flush()?;
            }
        }
        writeln!(out)?;
    }
    out.flush()?;
    Ok(all)
}

#[cfg(test)]
mod tests;
