//! Golden cases ported from Prometheus's `template/template_test.go`, Go `fmt` cases, syntax
//! and error cases, and property tests.

use std::rc::Rc;

use proptest::prelude::*;

use super::*;
use crate::gotemplate::{Value, gofmt};

const URL: &str = "http://testhost:9090/path/prefix";

fn labels() -> Labels {
    Labels::new([("instance", "a:9090"), ("job", "api"), ("severity", "page")])
}

fn ext() -> Labels {
    Labels::new([("cluster", "eu1")])
}

fn run_with(
    text: &str,
    value: f64,
    dot: Option<Value<'static>>,
    samples: Vec<QuerySample>,
) -> Result<String, TemplateError> {
    let l = labels();
    let e = ext();
    let q = move |_: &str| Ok::<_, String>(samples.clone());
    let data = TemplateData {
        labels: &l,
        external_labels: &e,
        external_url: URL,
        value,
        query: Some(&q),
    };
    Template::parse("test", text)?.render_dot(&data, dot.map(shorten))
}

fn run(text: &str) -> String {
    match run_with(text, 1.5, None, Vec::new()) {
        Ok(s) => s,
        Err(e) => panic!("{text:?} failed: {e}"),
    }
}

fn run_err(text: &str) -> String {
    match run_with(text, 1.5, None, Vec::new()) {
        Ok(s) => panic!("{text:?} rendered {s:?}, expected an error"),
        Err(e) => e.to_string(),
    }
}

/// Runs like Prometheus's expander tests: no prepended definitions, dot set to a list.
fn run_list(text: &str, items: Vec<Value<'static>>) -> Result<String, TemplateError> {
    let l = labels();
    let data = TemplateData {
        labels: &l,
        external_labels: &l,
        external_url: URL,
        value: 0.0,
        query: None,
    };
    Template::parse_with_prefix("test", text, "")?
        .render_dot(&data, Some(shorten(Value::List(Rc::new(items)))))
}

/// A plain test value for a render's (shorter) lifetime: the engine's values are invariant in
/// their lifetime, as they may hold an adapter's objects.
fn shorten<'a>(v: Value<'static>) -> Value<'a> {
    match v {
        Value::Nil => Value::Nil,
        Value::Bool(b) => Value::Bool(b),
        Value::Int(i) => Value::Int(i),
        Value::Float(f) => Value::Float(f),
        Value::Str(s) => Value::Str(s),
        Value::List(l) => Value::List(Rc::new(l.iter().cloned().map(shorten).collect())),
        other => panic!("no test builds {other:?} as dot"),
    }
}

fn floats(v: &[f64]) -> Vec<Value<'static>> {
    v.iter().map(|&f| Value::Float(f)).collect()
}
fn strs(v: &[&'static str]) -> Vec<Value<'static>> {
    v.iter().map(|&s| Value::str(s)).collect()
}
fn ints(v: &[i64]) -> Vec<Value<'static>> {
    v.iter().map(|&i| Value::Int(i)).collect()
}

fn sample(pairs: &[(&str, &str)], value: f64) -> QuerySample {
    QuerySample {
        labels: Labels::new(pairs.iter().map(|&(a, b)| (a, b))),
        value,
    }
}

/// Go's column of a node at byte `col` of the user's text on line 1 (Prometheus counts its
/// prepended definitions).
fn c(col: usize) -> usize {
    PREFIX.len() + col
}

// --- Prometheus golden cases -----------------------------------------------------------------

#[test]
fn golden_basic() {
    assert_eq!(run("plain text"), "plain text");
    assert_eq!(run("{{ 1 }}"), "1");
    assert_eq!(run("{{ \"<b>\" }}"), "<b>");
    assert_eq!(
        run("{{define \"x\"}}{{.arg0}} {{.arg1}}{{end}}{{template \"x\" (args 1 \"2\")}}"),
        "1 2"
    );
    assert_eq!(run("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}"), "xa");
    assert_eq!(run("{{ \"aa bb CC\" | title }}"), "Aa Bb CC");
    assert_eq!(run("{{ \"aa bb CC\" | toUpper }}"), "AA BB CC");
    assert_eq!(run("{{ \"aA bB CC\" | toLower }}"), "aa bb cc");
    assert_eq!(
        run("{{ \"straße İ\" | toUpper }} {{ \"İ\" | toLower }} {{ \"ßa x_y-z\" | title }}"),
        "STRAßE İ i ßa X_y-Z"
    );
    assert_eq!(
        run("{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}"),
        "true false"
    );
    assert_eq!(run("{{ graphLink \"up\" }}"), "/graph?g0.expr=up&g0.tab=0");
    assert_eq!(run("{{ tableLink \"up\" }}"), "/graph?g0.expr=up&g0.tab=1");
    assert_eq!(run("{{ pathPrefix }}"), "/path/prefix");
    assert_eq!(run("{{ externalURL }}"), URL);
    assert_eq!(
        run("{{ printf \"%0.2f\" (parseDuration \"1h2m10ms\") }}"),
        "3720.01"
    );
}

#[test]
fn golden_non_ascii_space_is_rejected() {
    let e = run_err("{{\u{a0}}}");
    assert_eq!(
        e,
        "template: test:1:3: unrecognized character in action: U+00A0"
    );
}

#[test]
fn golden_query() {
    let one = vec![sample(&[("__name__", "metric"), ("instance", "a")], 11.0)];
    let r = |t: &str, s: Vec<QuerySample>| run_with(t, 0.0, None, s).map_err(|e| e.to_string());
    assert_eq!(
        r(
            "{{ query \"1.5\" | first | value }}",
            vec![sample(&[], 1.5)]
        )
        .as_deref(),
        Ok("1.5")
    );
    assert_eq!(
        r(
            "{{ query \"metric{instance='a'}\" | first | value }}",
            one.clone()
        )
        .as_deref(),
        Ok("11")
    );
    assert_eq!(
        r(
            "{{ query \"x\" | first | label \"instance\" }}",
            one.clone()
        )
        .as_deref(),
        Ok("a")
    );
    assert_eq!(
        r("{{ query \"x\" | first | label \"foo\" }}", one.clone()).as_deref(),
        Ok("")
    );
    assert_eq!(
        r(
            "{{ $x := query \"metric\" | first }}{{ $x.Labels.foo }}",
            one.clone()
        )
        .as_deref(),
        Ok("")
    );
    let v = vec![sample(&[("__name__", "metric"), ("__value__", "a")], 11.0)];
    assert_eq!(
        r("{{ query \"x\" | first | strvalue }}", v).as_deref(),
        Ok("a")
    );
    let two = vec![
        sample(&[("__name__", "metric"), ("instance", "b")], 21.0),
        sample(&[("__name__", "metric"), ("instance", "a")], 11.0),
    ];
    assert_eq!(
        r("{{ range query \"metric\" | sortByLabel \"instance\" }}{{.Labels.instance}}:{{.Value}}: {{end}}", two)
            .as_deref(),
        Ok("a:11: b:21: ")
    );
    assert_eq!(
        r("{{ query \"x\" | first }}|{{ printf \"%v\" (query \"x\" | first) }}|{{ (query \"x\" | first).Labels }}", one.clone()).as_deref(),
        Ok("{map[__name__:metric instance:a] 11}|&{map[__name__:metric instance:a] 11}|map[__name__:metric instance:a]")
    );
    assert_eq!(
        r("{{ range $i, $s := query \"x\" }}{{ $i }}:{{ $s.Value }}:{{ label \"instance\" $s }}{{ end }} {{ len (query \"x\") }} {{ (index (query \"x\") 0).Value }}", one.clone()).as_deref(),
        Ok("0:11:a 1 11")
    );
    assert_eq!(
        r(
            "{{ with query \"x\" }}{{ . | first | value | humanize }}{{ else }}none{{ end }}",
            Vec::new()
        )
        .as_deref(),
        Ok("none")
    );
    // Go reports a field on a parenthesised pipeline at the last node it evaluated.
    let e = r("{{ (query \"missing\").banana }}", Vec::new()).unwrap_err();
    assert_eq!(
        e,
        format!(
            "error executing template test: template: test:1:{}: executing \"test\" at <\"missing\">: can't evaluate field banana in type template.queryResult",
            c(10)
        )
    );
    let e = r("{{ query \"missing\" | first }}", Vec::new()).unwrap_err();
    assert_eq!(
        e,
        format!(
            "error executing template test: template: test:1:{}: executing \"test\" at <first>: error calling first: first() called on vector with no elements",
            c(21)
        )
    );
}

#[test]
fn query_without_engine_fails_clearly() {
    let l = labels();
    let data = TemplateData {
        labels: &l,
        external_labels: &l,
        external_url: "",
        value: 0.0,
        query: None,
    };
    let e = Template::parse("t", "{{ query \"up\" }}")
        .and_then(|t| t.render(&data))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("error calling query: no query engine is available"),
        "{e}"
    );
}

#[test]
fn golden_strip_port_and_domain() {
    for (input, port, domain) in [
        ("foo.example.com", "foo.example.com", "foo"),
        ("foo.example.com:12345", "foo.example.com", "foo:12345"),
        ("192.0.2.1", "192.0.2.1", "192.0.2.1"),
        ("192.0.2.1:12345", "192.0.2.1", "192.0.2.1:12345"),
        ("2001:0DB8::1", "2001:0DB8::1", "2001:0DB8::1"),
        (
            "[2001:0DB8::1]:12345",
            "2001:0DB8::1",
            "[2001:0DB8::1]:12345",
        ),
        (
            "[2001:0DB8::1]::12345",
            "[2001:0DB8::1]::12345",
            "[2001:0DB8::1]::12345",
        ),
    ] {
        assert_eq!(
            run(&format!("{{{{ \"{input}\" | stripPort }}}}")),
            port,
            "{input}"
        );
        assert_eq!(
            run(&format!("{{{{ \"{input}\" | stripDomain }}}}")),
            domain,
            "{input}"
        );
    }
}

#[test]
fn golden_missing_values() {
    // With a nil dot, a field is `<no value>`; a missing label is "" (missingkey=zero).
    assert_eq!(
        run_with("{{ .Foo }}", 0.0, Some(Value::Nil), Vec::new()).unwrap(),
        "<no value>"
    );
    assert_eq!(run("{{ $labels.nope }}|{{ .Labels.nope }}"), "|");
    assert!(run_err("{{").contains("test:1:1: unclosed action"));
    let e = run_err("{{ .Foo }}");
    assert!(e.contains("can't evaluate field Foo in type struct"), "{e}");
}

#[test]
fn golden_humanize() {
    let h = |t: &str, v: Vec<Value<'static>>| run_list(t, v).unwrap();
    let t = "{{ range . }}{{ humanize . }}:{{ end }}";
    assert_eq!(
        h(t, floats(&[0.0, 1.0, 1234567.0, 0.12])),
        "0:1:1.235M:120m:"
    );
    assert_eq!(
        h(t, strs(&["0.0", "1.0", "1234567.0", ".12"])),
        "0:1:1.235M:120m:"
    );
    assert_eq!(
        h(t, ints(&[0, -1, 1, 1234567, i64::MAX])),
        "0:-1:1:1.235M:9.223E:"
    );
    let t = "{{ range . }}{{ humanize1024 . }}:{{ end }}";
    assert_eq!(h(t, floats(&[0.0, 1.0, 1048576.0, 0.12])), "0:1:1Mi:0.12:");
    assert_eq!(
        h(t, strs(&["0.0", "1.0", "1048576.0", ".12"])),
        "0:1:1Mi:0.12:"
    );
    assert_eq!(
        h(t, ints(&[0, -1, 1, 1234567, i64::MAX])),
        "0:-1:1:1.177Mi:8Ei:"
    );
    let t = "{{ range . }}{{ humanizeDuration . }}:{{ end }}";
    assert_eq!(
        h(
            t,
            floats(&[
                0.0,
                1.0,
                60.0,
                3600.0,
                86400.0,
                86400.0 + 3600.0,
                -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0),
                899.99
            ])
        ),
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:"
    );
    assert_eq!(
        h(t, strs(&["0", "1", "60", "3600", "86400"])),
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:"
    );
    assert_eq!(
        h(
            t,
            floats(&[0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345])
        ),
        "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:"
    );
    assert_eq!(
        h(
            t,
            strs(&[".1", ".0001", ".12345", "60.1", "60.5", "1.2345", "12.345"])
        ),
        "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:"
    );
    assert_eq!(h(t, ints(&[0, -1, 1, 1234567])), "0s:-1s:1s:14d 6h 56m 7s:");
    let t = "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}";
    let want = "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:";
    assert_eq!(
        h(t, floats(&[f64::INFINITY, f64::NEG_INFINITY, f64::NAN])),
        want
    );
    assert_eq!(h(t, strs(&["+Inf", "-Inf", "NaN"])), want);
    assert_eq!(
        run(
            "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}"
        ),
        "-22.22%:0%:12.35%:123.5%"
    );
    let t = "{{ range . }}{{ humanizePercentage . }}:{{ end }}";
    assert_eq!(
        h(t, ints(&[0, -1, 1, 1234567, i64::MAX])),
        "0%:-100%:100%:1.235e+08%:9.223e+20%:"
    );
    assert_eq!(
        run(
            r#"{{ "-0.22222" | humanizePercentage }}:{{ "0.0" | humanizePercentage }}:{{ "0.1234567" | humanizePercentage }}:{{ "1.23456" | humanizePercentage }}"#
        ),
        "-22.22%:0%:12.35%:123.5%"
    );
}

#[test]
fn golden_humanize_errors() {
    for f in ["humanize", "humanize1024", "humanizeDuration"] {
        let e = run_err(&format!("{{{{ {f} \"one\" }}}}"));
        assert_eq!(
            e,
            format!(
                "error executing template test: template: test:1:{}: executing \"test\" at <{f} \"one\">: error calling {f}: strconv.ParseFloat: parsing \"one\": invalid syntax",
                c(3)
            )
        );
    }
    let e = run_err(r#"{{ "one" | humanizePercentage }}"#);
    assert_eq!(
        e,
        format!(
            "error executing template test: template: test:1:{}: executing \"test\" at <humanizePercentage>: error calling humanizePercentage: strconv.ParseFloat: parsing \"one\": invalid syntax",
            c(11)
        )
    );
}

#[test]
fn golden_timestamps() {
    let t = "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}";
    assert_eq!(
        run_list(t, ints(&[0, -1, 1, 1234567, 9223372036])).unwrap(),
        "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:"
    );
    let e = run_list(t, ints(&[i64::MIN, i64::MAX]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "error executing template test: template: test:1:{}: executing \"test\" at <humanizeTimestamp .>: error calling humanizeTimestamp: -9.223372036854776e+18 cannot be represented as a nanoseconds timestamp since it overflows int64",
            16
        )
    );
    assert_eq!(
        run("{{ 1435065584.128 | humanizeTimestamp }}"),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
    assert_eq!(
        run(r#"{{ "1435065584.128" | humanizeTimestamp }}"#),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
    assert_eq!(
        run(r#"{{ (1435065584.128 | toTime).Format "2006" }}"#),
        "2015"
    );
    assert_eq!(
        run(r#"{{ ("1435065584.128" | toTime).Format "2006" }}"#),
        "2015"
    );
    assert_eq!(
        run(r#"{{ (1657155181 | toTime).Format "Mon Jan _2 15:04:05.000 2006 -0700" }}"#),
        "Thu Jul  7 00:53:01.000 2022 +0000"
    );
    assert_eq!(
        run("{{ 1657155181 | toTime }}"),
        "2022-07-07 00:53:01 +0000 UTC"
    );
    assert_eq!(
        run(
            r#"{{ (1435065584.128 | toTime).Format "2006-01-02T15:04:05.000Z07:00" }} {{ (1435065584.128 | toTime).Format "January 2, 2006 3:04PM MST .999" }}"#
        ),
        "2015-06-23T13:19:44.128Z June 23, 2015 1:19PM UTC .128"
    );
    assert_eq!(
        run("{{ (1435065584.128 | toTime).Unix }} {{ (1435065584.128 | toTime).UnixMilli }}"),
        "1435065584 1435065584128"
    );
    assert!(
        run_err("{{ (0 | toTime).Local }}")
            .contains("can't evaluate field Local in type *time.Time")
    );
}

#[test]
fn durations() {
    assert_eq!(
        run(
            "{{ 0 | toDuration }} {{ 1.5 | toDuration }} {{ 3723.5 | toDuration }} {{ 0.0015 | toDuration }} {{ 0.0000015 | toDuration }} {{ 0.000000015 | toDuration }} {{ -90 | toDuration }}"
        ),
        // 0.000000015 * 1e9 is 14.999999999999998, truncated like Go's conversion.
        "0s 1.5s 1h2m3.5s 1.5ms 1.5µs 14ns -1m30s"
    );
    assert_eq!(
        run("{{ (90 | toDuration).Minutes }} {{ (\"2\" | toDuration).Milliseconds }}"),
        "1.5 2000"
    );
    assert_eq!(run("{{ 90 | toDuration | humanizeDuration }}"), "1m 30s");
    assert_eq!(
        run("{{ printf \"%s|%v\" (toDuration 1) (toDuration 60) }}"),
        "1s|1m0s"
    );
}

// --- Alert data and Go semantics ---------------------------------------------------------------

#[test]
fn alert_variables() {
    assert_eq!(
        run(
            "{{ $labels.instance }} of {{ $labels.job }} is {{ $value }} in {{ $externalLabels.cluster }} ({{ $externalURL }})"
        ),
        format!("a:9090 of api is 1.5 in eu1 ({URL})")
    );
    assert_eq!(
        run("{{ .Labels.severity }} {{ .Value }} {{ .ExternalURL }}"),
        format!("page 1.5 {URL}")
    );
    assert_eq!(
        run("{{ $labels }}"),
        "map[instance:a:9090 job:api severity:page]"
    );
    assert_eq!(
        run("{{ $ }}"),
        format!("{{map[instance:a:9090 job:api severity:page] map[cluster:eu1] {URL} 1.5}}")
    );
}

#[test]
fn value_prints_like_go_v() {
    for (v, want) in [
        (1.5, "1.5"),
        (100.0, "100"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (1e21, "1e+21"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-0.0, "-0"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1.0 / 3.0, "0.3333333333333333"),
        (5e-324, "5e-324"),
    ] {
        assert_eq!(
            run_with("{{ $value }}", v, None, Vec::new()).unwrap(),
            want,
            "{v}"
        );
    }
}

#[test]
fn printf_verbs() {
    let p = |args: &str| run(&format!("{{{{ printf {args} }}}}"));
    assert_eq!(p(r#""%s=%d" "a" 42"#), "a=42");
    assert_eq!(p(r#""%.2f" 3.14159"#), "3.14");
    assert_eq!(p(r#""%f" 1.5"#), "1.500000");
    assert_eq!(
        p(r#""%8.3f|%-8.2f|%08.3f" 3.14159 2.5 -3.14159"#),
        "   3.142|2.50    |-003.142"
    );
    assert_eq!(p(r#""%g %g %g" 1.5 1e21 0.00001"#), "1.5 1e+21 1e-05");
    assert_eq!(
        p(r#""%e %E %.2e" 123456.789 0.5 0.0"#),
        "1.234568e+05 5.000000E-01 0.00e+00"
    );
    assert_eq!(p(r#""%v %v %v %v" 1 1.0 "s" true"#), "1 1 s true");
    assert_eq!(p(r#""%q %q" "a\"b" 97"#), r#""a\"b" 'a'"#);
    assert_eq!(p(r#""%x %X %x %#x" 255 255 "hi" 255"#), "ff FF 6869 0xff");
    assert_eq!(
        p(r#""%5d|%-5d|%05d|%+d" 42 42 42 42"#),
        "   42|42   |00042|+42"
    );
    assert_eq!(p(r#""%5s|%-5s|%.2s" "ab" "ab" "abcdef""#), "   ab|ab   |ab");
    assert_eq!(p(r#""%d%%" 50"#), "50%");
    assert_eq!(p(r#""%d" "x""#), "%!d(string=x)");
    assert_eq!(p(r#""%s" 1.5"#), "%!s(float64=1.5)");
    assert_eq!(p(r#""%d %d" 1"#), "1 %!d(MISSING)");
    assert_eq!(p(r#""%d" 1 2"#), "1%!(EXTRA int=2)");
    assert_eq!(p(r#""%""#), "%!(NOVERB)");
    assert_eq!(p(r#""%[2]d %[1]d" 1 2"#), "2 1");
    assert_eq!(p(r#""%*d" 5 1"#), "    1");
    assert_eq!(p(r#""%99999999d|%.f" 7 2.5"#), "7|2");
    assert_eq!(
        p(r#""%.3g|%.10g|%g" 1234.5678 1234.5678 100000.0"#),
        "1.23e+03|1234.5678|100000"
    );
    assert_eq!(p(r#""%.2f" $value"#), "1.50");
    assert_eq!(
        p(r#""%v" $labels"#),
        "map[instance:a:9090 job:api severity:page]"
    );
    assert_eq!(p(r#""%x" 1.0"#), "0x1p+00");
    assert_eq!(run("{{ printf \"%6.2f%%\" 12.3456 }}"), " 12.35%");
    // `%+v` names struct fields and does not sign numbers; verbs apply inside composites.
    assert_eq!(p(r#""%+v %+d" 1.5 2"#), "1.5 +2");
    assert_eq!(
        p(r#""%#g|%#.3g|%#.0f|%#e|%#g" 1.5 2.0 3.0 1.0 0.0"#),
        "1.50000|2.00|3.|1.000000e+00|0.00000"
    );
    assert_eq!(
        p(r#""%d" $labels"#),
        "map[%!d(string=instance):%!d(string=a:9090) %!d(string=job):%!d(string=api) %!d(string=severity):%!d(string=page)]"
    );
    assert_eq!(
        p(r#""%+v" $"#),
        format!(
            "{{Labels:map[instance:a:9090 job:api severity:page] ExternalLabels:map[cluster:eu1] ExternalURL:{URL} Value:1.5}}"
        )
    );
    assert_eq!(
        p(r#""%#v %#v %#v" "a" 1.0 $externalLabels"#),
        r#""a" 1 map[string]string{"cluster":"eu1"}"#
    );
    assert_eq!(
        p(r#""%#v" (args 1 "x")"#),
        r#"map[string]interface {}{"arg0":1, "arg1":"x"}"#
    );
    assert_eq!(
        p(r#""%#v" (0 | toTime)"#),
        "time.Date(1970, time.January, 1, 0, 0, 0, 0, time.UTC)"
    );
}

#[test]
fn print_and_println() {
    assert_eq!(run(r#"{{ print 1 2 "a" 3 "b" "c" }}"#), "1 2a3bc");
    assert_eq!(run(r#"{{ println 1 "a" }}"#), "1 a\n");
}

#[test]
fn escapes() {
    assert_eq!(
        run(r#"{{ html "<a href='x'>&\"" }}"#),
        "&lt;a href=&#39;x&#39;&gt;&amp;&#34;"
    );
    assert_eq!(
        run(r#"{{ js "it's <b> = \"x\"\n" }}"#),
        r#"it\'s \u003Cb\u003E \u003D \"x\"\u000A"#
    );
    assert_eq!(run(r#"{{ urlquery "a b&c=d/é" }}"#), "a+b%26c%3Dd%2F%C3%A9");
    assert_eq!(run(r#"{{ "a" | safeHtml }}"#), "a");
}

#[test]
fn literals() {
    assert_eq!(run(r#"{{ "tab\there\u00e9\x41" }}"#), "tab\there\u{e9}A");
    assert_eq!(run("{{ `raw\\n` }}"), "raw\\n");
    assert_eq!(
        run("{{ 0x1F }} {{ 0o17 }} {{ 017 }} {{ 0b101 }} {{ 1_000 }} {{ 'a' }} {{ '\\n' }}"),
        "31 15 15 5 1000 97 10"
    );
    assert_eq!(
        run("{{ 1.0 }} {{ 1e3 }} {{ -2.5 }} {{ .5 }}"),
        "1 1000 -2.5 0.5"
    );
    assert_eq!(run("{{ true }} {{ false }}"), "true false");
    assert!(run_err("{{ 1i }}").contains("complex number 1i is not supported"));
    assert!(run_err("{{ 0x1p-2 }}").contains("hexadecimal float"));
    assert!(run_err("{{ 3x }}").contains("bad number syntax: \"3x\""));
    assert!(run_err("{{ nil }}").contains("nil is not a command"));
}

#[test]
fn trim_markers_and_comments() {
    assert_eq!(run("a  {{- 1 -}}  b"), "a1b");
    assert_eq!(run("a\n\t{{- 1 }}\n b"), "a1\n b");
    assert_eq!(run("a {{ 1 -}}\n\n b"), "a 1b");
    assert_eq!(run("x {{/* a comment */}} y"), "x  y");
    assert_eq!(run("x {{- /* a comment */ -}} y"), "xy");
    assert_eq!(run("{{ -1 }}"), "-1");
    assert!(run_err("{{/* open").contains("unclosed comment"));
    assert!(run_err("{{/* c */ 1}}").contains("comment ends before closing delimiter"));
}

#[test]
fn control_structures() {
    assert_eq!(
        run(
            "{{ if eq $labels.severity \"page\" }}P{{ else if eq $labels.severity \"x\" }}X{{ else }}O{{ end }}"
        ),
        "P"
    );
    assert_eq!(
        run(
            "{{ if eq $labels.severity \"x\" }}X{{ else if gt $value 1.0 }}big{{ else }}O{{ end }}"
        ),
        "big"
    );
    assert_eq!(run("{{ if not .Labels.missing }}none{{ end }}"), "none");
    assert_eq!(
        run("{{ with $labels.job }}job={{ . }}{{ else }}nojob{{ end }}"),
        "job=api"
    );
    assert_eq!(
        run("{{ with $labels.x }}x{{ else with $labels.job }}{{ . }}{{ end }}"),
        "api"
    );
    assert_eq!(
        run("{{ with $labels.x }}x{{ else }}empty{{ end }}"),
        "empty"
    );
    assert_eq!(
        run("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}"),
        "instance=a:9090;job=api;severity=page;"
    );
    assert_eq!(
        run("{{ range $labels }}{{ . }},{{ end }}"),
        "a:9090,api,page,"
    );
    assert_eq!(
        run("{{ range $i, $e := args 1 2 3 }}{{ $i }}{{ end }}"),
        "arg0arg1arg2"
    );
    assert_eq!(run("{{ range 3 }}{{ . }}{{ end }}"), "012");
    assert_eq!(
        run(
            "{{ range $x := 5 }}{{ if eq $x 1 }}{{ continue }}{{ end }}{{ if eq $x 3 }}{{ break }}{{ end }}{{ $x }}{{ end }}"
        ),
        "02"
    );
    assert_eq!(run("{{ range (args) }}x{{ else }}empty{{ end }}"), "empty");
    // Go cannot range over a string, and a missing label is the empty string.
    assert!(run_err("{{ range .Labels.nothing }}x{{ end }}").contains("range can't iterate over"));
    assert_eq!(
        run("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}"),
        "2"
    );
    assert!(
        run_err("{{ if true }}{{ $y := 3 }}{{ end }}{{ $y }}")
            .contains("undefined variable \"$y\"")
    );
    assert_eq!(
        run(
            "{{ define \"t\" }}[{{ . }}]{{ end }}{{ template \"t\" $labels.job }}{{ block \"b\" 7 }}<{{ . }}>{{ end }}"
        ),
        "[api]<7>"
    );
    assert_eq!(
        run(
            "{{ (len $labels) }} {{ len \"héllo\" }} {{ index $labels \"job\" }} {{ index \"abc\" 1 }} {{ slice \"abcdef\" 1 3 }}"
        ),
        "3 6 api 98 bc"
    );
    assert_eq!(
        run("{{ and 1 0 2 }} {{ or 0 \"\" \"x\" }} {{ and 1 2 }} {{ or 0 false }}"),
        "0 x 2 false"
    );
    // `and` short-circuits: the failing call is never made.
    assert_eq!(run("{{ and false (query \"x\" | first) }}"), "false");
    assert_eq!(
        run(
            "{{ eq 1 2 3 1 }} {{ ne \"a\" \"b\" }} {{ lt 1 2 }} {{ le 2.0 2.0 }} {{ gt \"b\" \"a\" }} {{ ge 1 2 }}"
        ),
        "true true true true true false"
    );
    assert_eq!(run("{{ $labels.job | printf \"%s!\" | toUpper }}"), "API!");
}

#[test]
fn comparison_errors_match_go() {
    assert!(
        run_err("{{ gt $value 1 }}")
            .contains("error calling gt: incompatible types for comparison")
    );
    assert!(
        run_err("{{ lt $labels 1 }}").contains("error calling lt: invalid type for comparison")
    );
    assert!(run_err("{{ eq 1 }}").contains("error calling eq: missing argument for comparison"));
}

#[test]
fn exec_errors_name_position_and_node() {
    let e = run_err("line one\n{{ $labels.job | title 3 }}");
    assert!(e.contains("test:2:"), "{e}");
    let e = run_err("{{ title 1 }}");
    assert!(e.contains("expected string; found 1"), "{e}");
    let e = run_err("{{ title }}");
    assert!(
        e.contains("wrong number of args for title: want 1 got 0"),
        "{e}"
    );
    let e = run_err("{{ template \"nope\" }}");
    assert!(e.contains("template \"nope\" not defined"), "{e}");
    let e = run_err("{{ define \"t\" }}{{ $labels }}{{ end }}");
    assert!(e.contains("undefined variable \"$labels\""), "{e}");
    let e = run_err("{{ $labels.job.x.y.z.w.v.u.t }}");
    assert!(
        e.contains("at <$labels.job.x.y.z.w.v.u.t>: can't evaluate field x in type string"),
        "{e}"
    );
    let e = run_err("{{ define \"r\" }}{{ template \"r\" }}{{ end }}{{ template \"r\" }}");
    assert!(e.contains("exceeded maximum template depth (300)"), "{e}");
    let e = run_err("{{ reReplaceAll \"(\" \"\" \"x\" }}");
    assert!(
        e.contains("error calling reReplaceAll: regexp: Compile(`(`): error parsing regexp: unclosed group: `(`"),
        "{e}"
    );
}

#[test]
fn parse_errors_name_line_and_column() {
    let e = run_err("ok\n  {{ foo }}");
    assert_eq!(e, "template: test:2:6: function \"foo\" not defined");
    let e = run_err("{{ $nope }}");
    assert_eq!(e, "template: test:1:4: undefined variable \"$nope\"");
    assert!(run_err("{{ end }}").contains("unexpected {{end}}"));
    assert!(run_err("{{ if true }}x").contains("unexpected EOF"));
    assert!(run_err("{{ else }}").contains("unexpected {{else}}"));
    assert!(run_err("{{ 1 | 2 }}").contains("non executable command in pipeline stage 2"));
    assert!(run_err("{{ break }}").contains("{{break}} outside {{range}}"));
    assert!(run_err("{{ \"abc }}").contains("unterminated quoted string"));
    assert!(run_err("{{ ( 1 }}").contains("unclosed left paren"));
    assert!(run_err("{{ 1 ) }}").contains("unexpected right paren"));
    assert!(run_err("{{ }}").contains("missing value for command"));
    assert!(run_err("{{ call . }}").contains("function \"call\" not defined"));
    assert!(run_err("{{ $x : 1 }}").contains("expected :="));
    assert!(
        run_err("{{ define \"a\" }}x{{ end }}{{ define \"a\" }}y{{ end }}")
            .contains("multiple definition")
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let parens = format!("{{{{ {}1{} }}}}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(run_err(&parens).contains("template nesting exceeds 100 levels"));
    let ifs = format!(
        "{}x{}",
        "{{ if true }}".repeat(10_000),
        "{{ end }}".repeat(10_000)
    );
    assert!(run_err(&ifs).contains("template nesting exceeds 100 levels"));
    let ok = format!("{}x{}", "{{ if true }}".repeat(50), "{{ end }}".repeat(50));
    assert_eq!(run(&ok), "x");
    // Recursion through a nested body counts every level.
    let deep = format!(
        "{{{{ define \"r\" }}}}{}{{{{ template \"r\" }}}}{}{{{{ end }}}}{{{{ template \"r\" }}}}",
        "{{ if true }}".repeat(90),
        "{{ end }}".repeat(90)
    );
    assert!(run_err(&deep).contains("exceeded maximum template depth (300)"));
}

#[test]
fn template_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Template>();
    check::<TemplateError>();
}

#[test]
fn plain_text_is_not_parsed() {
    let t = Template::parse("t", "no actions here } { }}").unwrap();
    assert!(matches!(t.body, Body::Plain(_)));
    let l = labels();
    let data = TemplateData {
        labels: &l,
        external_labels: &l,
        external_url: "",
        value: 0.0,
        query: None,
    };
    assert_eq!(t.render(&data).unwrap(), "no actions here } { }}");
}

proptest! {
    #[test]
    fn text_without_actions_renders_to_itself(s in "[^{]*(\\{[^{]+)*") {
        prop_assume!(!s.contains("{{"));
        let l = labels();
        let data = TemplateData { labels: &l, external_labels: &l, external_url: "", value: 0.0, query: None };
        let t = Template::parse("p", &s).unwrap();
        prop_assert_eq!(t.render(&data).unwrap(), s);
    }

    #[test]
    fn parse_and_render_never_panic(s in "(\\{\\{-? ?|[ $.a-z0-9|():=\"`'*/,-]|\\}\\}|if |end|range |else |with |printf |len |index |humanize )*") {
        let l = labels();
        let data = TemplateData { labels: &l, external_labels: &l, external_url: "", value: 1.0, query: None };
        if let Ok(t) = Template::parse("p", &s) {
            let _ = t.render(&data);
        }
    }

    #[test]
    fn arbitrary_input_never_panics(s in "\\PC*") {
        let l = labels();
        let data = TemplateData { labels: &l, external_labels: &l, external_url: "", value: 1.0, query: None };
        if let Ok(t) = Template::parse("p", &s) {
            let _ = t.render(&data);
        }
    }

    #[test]
    fn shortest_float_formatting_round_trips(v in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL) {
        let s = gofmt::format_g(v, None, false);
        prop_assert_eq!(s.parse::<f64>().unwrap(), v);
    }
}

/// Annotations as they appear in widely used rule sets (node-exporter and kubernetes mixins,
/// awesome-prometheus-alerts), with the output Prometheus gives for them.
#[test]
fn real_world_annotations() {
    let l = Labels::new([
        ("instance", "node1:9100"),
        ("job", "node"),
        ("device", "/dev/sda1"),
        ("namespace", "prod"),
        ("pod", "api-0"),
        ("container", "app"),
        ("reason", "CrashLoopBackOff"),
        ("cluster", "eu1"),
    ]);
    let e = Labels::default();
    let data = |v: f64| TemplateData {
        labels: &l,
        external_labels: &e,
        external_url: URL,
        value: v,
        query: None,
    };
    let r = |t: &str, v: f64| {
        Template::parse("__alert_X", t)
            .and_then(|t| t.render(&data(v)))
            .unwrap()
    };
    assert_eq!(
        r(
            "Filesystem on {{ $labels.device }} at {{ $labels.instance }} has only {{ printf \"%.2f\" $value }}% available space left.",
            4.56789
        ),
        "Filesystem on /dev/sda1 at node1:9100 has only 4.57% available space left."
    );
    assert_eq!(
        r(
            "{{ $value | humanizePercentage }} of the {{ $labels.job }}/{{ $labels.namespace }} targets in {{ $labels.namespace }} namespace are down.",
            0.25
        ),
        "25% of the node/prod targets in prod namespace are down."
    );
    assert_eq!(
        r(
            "Pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) is in waiting state (reason: \"{{ $labels.reason }}\"){{ with $labels.cluster -}} on cluster {{ . }}{{- end }}.",
            1.0
        ),
        // ` -}}` eats the space after it, as in Go.
        "Pod prod/api-0 (app) is in waiting state (reason: \"CrashLoopBackOff\")on cluster eu1."
    );
    assert_eq!(
        r(
            "Container {{ $labels.container }} restarted {{ printf \"%.0f\" $value }} times{{ with $labels.nope }} on {{ . }}{{ end }}.",
            3.0
        ),
        "Container app restarted 3 times."
    );
    assert_eq!(
        r(
            "Host out of memory (instance {{ $labels.instance }})\n  VALUE = {{ $value }}\n  LABELS = {{ $labels }}",
            9.5
        ),
        "Host out of memory (instance node1:9100)\n  VALUE = 9.5\n  LABELS = map[cluster:eu1 container:app device:/dev/sda1 instance:node1:9100 job:node namespace:prod pod:api-0 reason:CrashLoopBackOff]"
    );
    assert_eq!(
        r(
            "{{ $value | humanize }}B free, {{ $value | humanize1024 }}iB",
            123456789.0
        ),
        "123.5MB free, 117.7MiiB"
    );
    assert_eq!(
        r("uptime {{ $value | humanizeDuration }}", 93784.0),
        "uptime 1d 2h 3m 4s"
    );
    assert_eq!(
        r(
            "{{ if ne $labels.job \"info\" }}page{{ end }} {{ $value }}",
            1e-7
        ),
        "page 1e-07"
    );
    assert_eq!(
        r(
            "{{ $externalURL }}{{ graphLink \"rate(errors_total[5m]) > 0.1\" }}",
            0.0
        ),
        format!("{URL}/graph?g0.expr=rate%28errors_total%5B5m%5D%29+%3E+0.1&g0.tab=0")
    );
}

/// Go allows precisions up to 1,000,000; Rust's formatter panicked past 65,535 (found by the
/// `gotemplate` fuzz target with `{{ printf "%.97840v" $value }}`). Digits past an f64's exact
/// expansion are zeros.
#[test]
fn printf_with_a_huge_precision_pads_with_zeros() {
    // %g and %v trim trailing zeros, as Go does.
    assert_eq!(run("{{ printf \"%.97840v\" 1.5 }}"), "1.5");
    assert_eq!(run("{{ printf \"%.97840g\" 1.5 }}"), "1.5");
    let e = run("{{ printf \"%.97840e\" 1.5 }}");
    assert!(
        e.starts_with("1.5000") && e.ends_with("e+00"),
        "{}",
        &e[..20]
    );
    assert_eq!(e.len(), 2 + 97_840 + 4);
    assert_eq!(run("{{ printf \"%.70000f\" 0.25 }}").len(), 2 + 70_000);
}
